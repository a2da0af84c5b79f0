/* log.c - `ringcache log`: check the query, ask for the stream, print it as it comes. */
#include "cli/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/admin_client.h"
#include "ops/query.h"
#include "ops/recfmt.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringcache log [-c FILE | --admin http://IP:PORT] [--token TOKEN]\n"
		"                     [-q QUERY] [-o compact|ncsa|json] [-g request]\n"
		"                     [-H HEADER]... [-n COUNT]\n"
		"  -c, --config FILE   the daemon's configuration: admin.listen and admin.token\n"
		"      --admin URL     the admin listener instead (wins over the file)\n"
		"      --token TOKEN   its bearer token instead of the file's\n"
		"  -q, --query QUERY   only records that match, e.g.\n"
		"                      'status >= 500 or (cache == \"miss\" and ttfb > 200ms)'\n"
		"  -o, --output F      compact (default), ncsa (combined) or json lines\n"
		"  -g, --group request the backend exchange under its request\n"
		"  -H, --header NAME   carry this request header (repeatable, at most 8)\n"
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

int cli_log_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"admin", required_argument, NULL, 'A'},
	    {"token", required_argument, NULL, 'T'},  {"query", required_argument, NULL, 'q'},
	    {"output", required_argument, NULL, 'o'}, {"group", required_argument, NULL, 'g'},
	    {"header", required_argument, NULL, 'H'}, {"count", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *admin = NULL, *token = NULL, *query = NULL;
	const char *output = "compact";
	const char *hdrs[RLOG_HDRS];
	unsigned nhdr = 0;
	bool group = false;
	long count = -1;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:q:o:g:H:n:h", opts, NULL)) != -1) {
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
			if (nhdr == RLOG_HDRS) {
				fprintf(stderr, "ringcache log: at most %d -H names\n", RLOG_HDRS);
				return 2;
			}
			hdrs[nhdr++] = optarg;
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
		query_fini(&q);
	}
	char err[512];
	struct admin_target t;
	if (admin_target_resolve(&t, config, admin, token, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcache log: %s\n", err);
		return 2;
	}
	char path[8192] = "/log?format=";
	strcat(path, output);
	if (group)
		strcat(path, "&group=1");
	bool fits = true;
	if (query) {
		strcat(path, "&q=");
		fits = admin_query_append(path, sizeof(path), query);
	}
	for (unsigned i = 0; fits && i < nhdr; i++) {
		fits = strlen(path) + 5 < sizeof(path);
		if (fits) {
			strcat(path, "&hdr=");
			fits = admin_query_append(path, sizeof(path), hdrs[i]);
		}
	}
	if (!fits) {
		fprintf(stderr, "ringcache log: query too long\n");
		return 2;
	}
	struct admin_resp *resp = malloc(sizeof(*resp));
	if (!resp) {
		fprintf(stderr, "ringcache log: out of memory\n");
		return 1;
	}
	if (admin_get(&t, path, NULL, resp, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcache log: %s\n", err);
		free(resp);
		return 1;
	}
	char buf[16384];
	int status = resp->status;
	if (status != 200) {
		/* The daemon's own words: a 400 names the column of a query it
		 * refused, a 503 says how many streams it has. */
		fprintf(stderr, "ringcache log: %s: %d: ", t.where, status);
		ssize_t n;
		while ((n = admin_resp_read(resp, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)n, stderr);
		admin_resp_close(resp);
		free(resp);
		return status == 400 ? 2 : 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Lines may span reads: print whole ones, counting records (not the
	 * indented exchange lines nor loss notes). */
	char pending[RECFMT_MAX + 4096];
	size_t plen = 0;
	int rc = 0;
	bool last = false; /* the -n'th record is out: only its exchange line may follow */
	for (;;) {
		ssize_t n = admin_resp_read(resp, buf, sizeof(buf));
		if (n < 0) {
			fprintf(stderr, "ringcache log: %s: the stream broke off\n", t.where);
			rc = 1;
			break;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (plen < sizeof(pending))
				pending[plen++] = buf[i];
			if (buf[i] != '\n')
				continue;
			bool indented = pending[0] == ' ';
			if (last && !indented)
				goto out;
			fwrite(pending, 1, plen, stdout);
			bool record =
			    !indented && pending[0] != '#' && strncmp(pending, "{\"lost\"", 7) != 0;
			plen = 0;
			if (record && count > 0 && --count == 0)
				last = true;
		}
		/* A record and its exchange line travel in one chunk. */
		if (last)
			break;
	}
out:
	fflush(stdout);
	admin_resp_close(resp);
	free(resp);
	return rc;
}
