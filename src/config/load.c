/*
 * load.c - the entry points: reading a file, parsing it into a libyaml
 * document, walking it along the schema's table (walk.c, schema.c) and
 * handing out the config or the errors; freeing a config (config.h).
 *
 * The whole file is parsed into a libyaml document first, then walked
 * along the schema. Only when no error at all was recorded is the config
 * handed out; otherwise it is freed and NULL returned.
 */
#include "config/config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config/readers.h"
#include "config/schema.h"
#include "config/table.h"
#include "config/walk.h"

/* Refuse absurd inputs (e.g. -c /dev/zero) instead of reading forever. */
#define CONFIG_FILE_MAX (16u << 20)

static void config_destroy(struct config *cfg)
{
	config_table_release(&config_schema_table, "", cfg);
	for (size_t i = 0; i < cfg->n_warnings; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	free(cfg->path);
	cfg->magic = 0; /* a stale pointer to freed memory fails the assert */
	free(cfg);
}

void config_free(struct config **cfgp)
{
	if (!cfgp || !*cfgp)
		return;
	struct config *cfg = *cfgp;
	*cfgp = NULL;
	assert(cfg->magic == CONFIG_MAGIC);
	if (atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
		config_destroy(cfg);
}

struct config *config_hold(struct config *cfg)
{
	assert(cfg && cfg->magic == CONFIG_MAGIC);
	unsigned old = atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
	assert(old > 0);
	return cfg;
}

static void load_root(struct walk *w, yaml_node_t *root)
{
	if (root->type != YAML_MAPPING_NODE) {
		walk_err(w, root, "top level: expected a mapping, got %s", walk_kind(root));
		return;
	}
	walk_section(w, root, "", "", w->cfg);
	read_check_config(w, root);
	routes_check(w, root);
	cluster_check(w, root); /* after routes: they cannot name its backend */
}

/* Line and column (1-based) of byte OFF in BUF, for reader errors that carry no mark. */
static void offset_pos(const char *buf, size_t len, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void report_parser_error(struct walk *w, yaml_parser_t *p, const char *buf, size_t len)
{
	size_t line, col;
	const char *problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_MEMORY_ERROR) {
		w->oom = true;
		walk_err_at(w, 0, 0, "out of memory while parsing");
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		/* Encoding errors: libyaml gives a byte offset, not a mark. */
		offset_pos(buf, len, p->problem_offset, &line, &col);
		walk_err_at(w, line, col, "YAML error: %s", problem);
		return;
	}
	line = p->problem_mark.line + 1;
	col = p->problem_mark.column + 1;
	if (p->context)
		walk_err_at(w, line, col,
			    "YAML syntax error: %s %s (started at line %zu column %zu)", problem,
			    p->context, p->context_mark.line + 1, p->context_mark.column + 1);
	else
		walk_err_at(w, line, col, "YAML syntax error: %s", problem);
}

struct config *config_load_string(const char *name, const char *yaml, size_t len,
				  struct config_errors *errs)
{
	struct config_errors scratch = {0};
	yaml_parser_t parser;
	yaml_document_t doc;
	struct walk ld = {
	    .file = name ? name : "<string>",
	    .doc = &doc,
	    .errs = errs ? errs : &scratch, /* callers that only want yes/no may pass NULL */
	    .table = &config_schema_table,
	};
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg || !yaml_parser_initialize(&parser)) {
		free(cfg);
		walk_err_at(&ld, 0, 0, "out of memory");
		config_errors_clear(&scratch);
		return NULL;
	}
	cfg->magic = CONFIG_MAGIC;
	atomic_init(&cfg->refs, 1);
	ld.cfg = cfg;
	if (config_table_init(&config_schema_table, "", cfg, cfg) < 0)
		walk_oom(&ld);
	if (!(cfg->path = strdup(ld.file)))
		walk_oom(&ld);

	yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""),
				     yaml ? len : 0);
	if (!yaml_parser_load(&parser, &doc)) {
		report_parser_error(&ld, &parser, yaml ? yaml : "", yaml ? len : 0);
	} else {
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root)
			walk_err_at(&ld, 1, 1,
				    "empty configuration; need at least 'listen' and "
				    "'backends'");
		else
			load_root(&ld, root);

		/* A second document would be silently ignored otherwise. */
		if (root) {
			yaml_document_t extra;
			if (!yaml_parser_load(&parser, &extra)) {
				report_parser_error(&ld, &parser, yaml ? yaml : "", len);
			} else {
				yaml_node_t *r2 = yaml_document_get_root_node(&extra);
				if (r2)
					walk_err_at(&ld, extra.start_mark.line + 1,
						    extra.start_mark.column + 1,
						    "only one YAML document is allowed");
				yaml_document_delete(&extra);
			}
		}
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);

	if (ld.oom && (!errs || errs->n == 0))
		walk_err_at(&ld, 0, 0, "out of memory");
	config_errors_clear(&scratch);
	if (ld.n_failed) {
		config_destroy(cfg);
		return NULL;
	}
	return cfg;
}

struct config *config_load(const char *path, struct config_errors *errs)
{
	struct config_errors scratch = {0};
	struct walk ld = {.file = path ? path : "(null)", .errs = errs ? errs : &scratch};
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int err = 0;
	FILE *f;

	if (!path || !(f = fopen(path, "rb"))) {
		walk_err_at(&ld, 0, 0, "cannot open: %s", strerror(path ? errno : EINVAL));
		config_errors_clear(&scratch);
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= CONFIG_FILE_MAX) {
				err = EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 4096;
			char *nb = realloc(buf, cap);
			if (!nb) {
				err = ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			/* errno is fread's (e.g. EISDIR for a directory) on error. */
			err = ferror(f) ? (errno ? errno : EIO) : 0;
			break;
		}
	}
	fclose(f);
	if (err) {
		walk_err_at(&ld, 0, 0, "cannot open: %s", strerror(err));
		free(buf);
		config_errors_clear(&scratch);
		return NULL;
	}
	struct config *cfg = config_load_string(path, buf ? buf : "", len, errs);
	free(buf);
	return cfg;
}
