/* metrics.c - counter names and help strings from the metrics table. */
#include "ops/metrics.h"

const char *const metric_names[M_COUNT] = {
#define X(name, help) #name,
	RC_METRICS(X)
#undef X
};

const char *const metric_help[M_COUNT] = {
#define X(name, help) help,
	RC_METRICS(X)
#undef X
};
