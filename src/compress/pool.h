/*
 * pool.h - the compression pool: codec steps run on worker threads.
 *
 * A loop task that encodes or decodes a body hands each step (one input
 * span through one codec) to the pool and waits; a worker thread runs the
 * codec and the task resumes on its own loop. No zlib, brotli or zstd call
 * runs on a loop thread, with one exception made for the benchmark that
 * shows why: a pool created with ON_LOOP runs every step inline, on the
 * caller's loop, as nginx does.
 *
 * Codecs are created and freed inside steps (a brotli or zstd context is
 * megabytes: its allocation belongs on a worker too). The counters are
 * process-wide atomics, read by the admin API.
 */
#ifndef RINGCACHE_COMPRESS_POOL_H
#define RINGCACHE_COMPRESS_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress/codec.h"
#include "rt/clock.h"

struct cpool;

struct cpool_stats {
	_Atomic uint64_t jobs;	     /* steps run */
	_Atomic uint64_t bytes_in;   /* input consumed by steps */
	_Atomic uint64_t bytes_out;  /* output produced by steps */
	_Atomic uint64_t job_ns;     /* time spent in steps, summed */
	_Atomic uint64_t fallbacks;  /* responses sent uncompressed: the pool was full */
	_Atomic uint64_t streams;    /* coded copies being made now (a gauge) */
	_Atomic uint64_t full_waits; /* a started stream waited for room in the queue */
	_Atomic uint64_t errors;     /* streams that broke (corrupt input, memory) */
};

/*
 * One step. The caller fills the inputs, including OUT/OUT_CAP, a buffer
 * it allocated (cpool_out_cap gives a size): the workers never allocate
 * what the loops free, so a worker preempted inside malloc cannot hold an
 * arena lock a loop then waits for. The step writes at most OUT_CAP bytes,
 * so a decompression bomb is fed through in bounded pieces: IN_USED <
 * IN_LEN, or MORE, means "call again".
 */
struct cjob {
	/* in */
	struct codec *k; /* NULL on the first step: the step creates it */
	bool decode;
	enum coding coding;
	int level; /* encoders */
	const char *in;
	size_t in_len;
	enum codec_op op;
	bool free_after; /* free K at the end of this step (the last one) */
	char *out;
	size_t out_cap;
	/* out */
	size_t in_used;
	size_t out_len;
	bool more; /* output was pending when the step stopped at its cap */
	int res;   /* 0, or a negative errno from the codec */
};

#define CPOOL_STEP_OUT_MAX (1u << 20)

/* Output room for a step of J's kind over IN_LEN bytes: the codecs' worst
 * case for encoders, CPOOL_STEP_OUT_MAX for decoders. */
size_t cpool_out_cap(const struct cjob *j, size_t in_len);

/* WORKERS threads, QUEUE waiting steps at most. NULL on failure. */
struct cpool *cpool_create(unsigned workers, unsigned queue, bool on_loop);
/* Join the workers after the queued steps ran; NULLs *pp. */
void cpool_destroy(struct cpool **pp);

/*
 * A stream (one coded copy) starts: false when WORKERS + QUEUE streams are
 * already running, since each would wait its turn for a worker; the caller
 * then sends the response uncompressed. Streams that must run (decoding
 * for a client that cannot take the stored coding) pass FORCE.
 */
bool cpool_stream_begin(struct cpool *p, bool force);
void cpool_stream_end(struct cpool *p);
size_t cpool_queued(struct cpool *p);
struct cpool_stats *cpool_stats(struct cpool *p);

/*
 * Run J on a worker and wait (task only). 0 when it ran (see J->res),
 * -ECANCELED or -ETIMEDOUT when the wait ended first. While the queue is
 * full it retries every millisecond until DEADLINE (counted in full_waits):
 * a stream that started is finished rather than broken.
 */
int cpool_run(struct cpool *p, struct cjob *j, rt_time_t deadline);

/* Free a codec a broken stream left behind, on a worker (a brotli or zstd
 * context is megabytes). From a task; inline only if the task is being
 * cancelled (shutdown), since then it cannot wait. */
void cpool_free_codec(struct cpool *p, struct codec **kp);

#endif
