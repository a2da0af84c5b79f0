/* log.c - `ringcache log`: check the query, ask for the stream, print it as it comes. */
#include "cli/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/admin_client.h"
#include "cli/recstream.h"
#include "ops/query.h"
#include "ops/recfmt.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringcache log [-c FILE | --admin http://IP:PORT] [--token TOKEN]\n"
		"                     [-q QUERY] [-o compact|ncsa|json] [-g request]\n"
		"                     [-H HEADER]... [-R HEADER]... [-n COUNT]\n"
		"  -c, --config FILE   the daemon's configuration: admin.listen and admin.token\n"
		"      --admin URL     the admin listener instead (wins over the file)\n"
		"      --token TOKEN   its bearer token instead of the file's\n"
		"  -q, --query QUERY   only records that match, e.g.\n"
		"                      'status >= 500 or (cache == \"miss\" and ttfb > 200ms)'\n"
		"  -o, --output F      compact (default), ncsa (combined) or json lines\n"
		"  -g, --group request the backend exchange under its request\n"
		"  -H, --header NAME   carry this request header (repeatable)\n"
		"  -R, --resp-header NAME  carry this response header (repeatable; -H and -R\n"
		"                      and the query's hdr.NAME / resp.NAME: at most 8)\n"
		"  -n, --count N       exit after N records\n"
		"Fields: %s.\n"
		"Operators: == != < <= > >= ~ !~ (PCRE2), and or not, ( ).\n"
		"Durations: 200ms 1.5s 10us (a bare number: ms); sizes: 512 10k 4KiB 1MB.\n",
		query_field_names);
}

/* The query's error, with a caret under its column. */
static void show_error(const char *q, const struct query_error *e)
{
	fprintf(stderr, "ringcache log: bad query at column %u: %s\n", e->col, e->msg);
	fprintf(stderr, "  %s\n  %*s^\n", q, (int)(e->col ? e->col - 1 : 0), "");
}

/* NAME into WANT (*N names) unless it is there; false when it is full. */
static bool add_name(const char **want, unsigned *n, const char *name)
{
	for (unsigned i = 0; i < *n; i++) {
		if (strcasecmp(want[i], name) == 0)
			return true;
	}
	if (*n == RLOG_HDRS)
		return false;
	want[(*n)++] = name;
	return true;
}

int cli_log_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"admin", required_argument, NULL, 'A'},
	    {"token", required_argument, NULL, 'T'},
	    {"query", required_argument, NULL, 'q'},
	    {"output", required_argument, NULL, 'o'},
	    {"group", required_argument, NULL, 'g'},
	    {"header", required_argument, NULL, 'H'},
	    {"count", required_argument, NULL, 'n'},
	    {"resp-header", required_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *admin = NULL, *token = NULL, *query = NULL;
	const char *output = "compact";
	const char *hdrs[RLOG_HDRS];
	char hnames[RLOG_HDRS][RLOG_HDR_NAME];
	unsigned nhdr = 0;
	bool group = false;
	long count = -1;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:q:o:g:H:R:n:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'A':
			admin = optarg;
			break;
		case 'T':
			token = optarg;
			break;
		case 'q':
			query = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'g':
			if (strcmp(optarg, "request") != 0) {
				fprintf(stderr, "ringcache log: -g: only \"request\" is known\n");
				return 2;
			}
			group = true;
			break;
		case 'H':
		case 'R':
			if (nhdr == RLOG_HDRS) {
				fprintf(stderr, "ringcache log: at most %d -H and -R names\n",
					RLOG_HDRS);
				return 2;
			}
			if (strlen(optarg) + 1 >= RLOG_HDR_NAME || !optarg[0]) {
				fprintf(stderr, "ringcache log: -%c: a name of 1 to %d bytes\n", ch,
					RLOG_HDR_NAME - 2);
				return 2;
			}
			/* A response header's name carries the mark (rlog.h). */
			snprintf(hnames[nhdr], RLOG_HDR_NAME, "%s%s", ch == 'R' ? ">" : "", optarg);
			for (char *c = hnames[nhdr]; *c; c++) /* as the daemon keeps them */
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c | 0x20 : *c);
			hdrs[nhdr] = hnames[nhdr];
			nhdr++;
			break;
		case 'n': {
			char *end;
			count = strtol(optarg, &end, 10);
			if (*end || count <= 0) {
				fprintf(stderr, "ringcache log: -n: a count above 0\n");
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringcache log: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	enum recfmt fmt;
	if (!recfmt_parse(output, strlen(output), &fmt)) {
		fprintf(stderr, "ringcache log: -o: compact, ncsa or json\n");
		return 2;
	}
	/* The header names: -H's, then those the query reads (hdr.NAME),
	 * which JSON shows as well, then NCSA's two when there is room. */
	char qnames[RLOG_HDRS][RLOG_HDR_NAME];
	unsigned nq = 0;
	if (query) {
		struct query q;
		struct query_error qe;
		int r = query_compile(&q, query, &qe);
		if (r < 0) {
			if (qe.col)
				show_error(query, &qe);
			else
				fprintf(stderr, "ringcache log: out of memory\n");
			return 2;
		}
		for (unsigned i = 0; i < q.nhdr; i++)
			memcpy(qnames[nq++], q.hdr[i], RLOG_HDR_NAME);
		query_fini(&q);
	}
	char err[512];
	struct admin_target t;
	if (admin_target_resolve(&t, config, admin, token, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcache log: %s\n", err);
		return 2;
	}
	const char *want[RLOG_HDRS];
	unsigned nwant = 0;
	for (unsigned i = 0; i < nhdr; i++)
		want[nwant++] = hdrs[i];
	for (unsigned k = 0; k < nq; k++) {
		if (!add_name(want, &nwant, qnames[k])) {
			fprintf(stderr, "ringcache log: more than %d header names\n", RLOG_HDRS);
			return 2;
		}
	}
	if (fmt == RECFMT_NCSA) {
		add_name(want, &nwant, "referer");
		add_name(want, &nwant, "user-agent");
	}
	struct recstream_opts o = {.query = query, .hdrs = want, .nhdr = nwant};
	struct recstream *rs;
	int e = recstream_open(&rs, &t, &o, err, sizeof(err));
	if (e < 0) {
		fprintf(stderr, "ringcache log: %s\n", err);
		return e == -2 ? 2 : 1;
	}
	/* The records come as binary frames (ops/recwire.h); the text is
	 * made here, with the daemon's own formatter, so that watching costs
	 * the daemon a copy of each record, not its formatting. */
	struct rlog_rec *rec = malloc(sizeof(*rec));
	char *line = malloc(RECFMT_MAX);
	if (!rec || !line) {
		fprintf(stderr, "ringcache log: out of memory\n");
		free(rec);
		free(line);
		recstream_close(&rs);
		return 1;
	}
	struct recfmt_hdrs h = {.n = nwant};
	for (unsigned i = 0; i < nwant; i++)
		h.name[i] = want[i];
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t lost_told = 0;
	int rc = 0;
	for (;;) {
		int n = recstream_next(rs, rec, -1);
		if (n == -2) {
			fprintf(stderr, "ringcache log: %s: %s\n", t.where, recstream_error(rs));
			rc = 1;
			break;
		}
		if (n <= 0)
			break; /* the daemon ended the stream (it drains) */
		uint64_t lost = recstream_lost(rs);
		if (lost != lost_told) {
			size_t len = recfmt_lost(fmt, lost - lost_told, lost, line, RECFMT_MAX);
			fwrite(line, 1, len, stdout);
			lost_told = lost;
		}
		for (unsigned i = 0; i < nwant; i++)
			h.value[i] = rec->hdr[i][0] ? rec->hdr[i] : NULL;
		size_t len = recfmt_record(fmt, group, rec, &h, line);
		fwrite(line, 1, len, stdout);
		if (count > 0 && --count == 0)
			break;
	}
	fflush(stdout);
	recstream_close(&rs);
	free(rec);
	free(line);
	return rc;
}
