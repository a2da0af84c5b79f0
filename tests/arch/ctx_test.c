/*
 * ctx_test.c - the context switch (src/rt/ctx.h) on its own, without
 * Criterion, so that it can be cross-built and run under qemu-user
 * (scripts/test-aarch64.sh) as well as natively (ctest arch_ctx).
 *
 * It links rt/ctx.c, rt/ctx_<arch>.S and rt/stack.c, and the register
 * probes of ctx_check_<arch>.S. Prints one line per check and ends with
 * "ctx_test: N passed, M failed"; exits 1 on any failure.
 */
#include "rt/ctx.h"
#include "rt/stack.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ctx_check_<arch>.S */
uint64_t ctx_check_switch(struct ctx *from, struct ctx *to, uint64_t seed);
void ctx_check_entry(void *arg);
uintptr_t ctx_check_entry_sp; /* written by ctx_check_entry */
void ctx_test_entry(void *arg);

#if defined(__x86_64__)
#define ARCH "x86_64"
/* After a call rsp is 8 mod 16 (the return address was pushed). */
#define ENTRY_SP_ALIGNED(sp) (((sp) + 8) % 16 == 0)
static const char *const reg_names[20] = {"rbx", "rbp", "r12", "r13", "r14", "r15", [19] = "sp"};
#elif defined(__aarch64__)
#define ARCH		     "aarch64"
/* AAPCS64: sp is 16-byte aligned at every public interface. */
#define ENTRY_SP_ALIGNED(sp) ((sp) % 16 == 0)
static const char *const reg_names[20] = {"x19", "x20", "x21", "x22", "x23", "x24", "x25",
					  "x26", "x27", "x28", "x29", "d8",  "d9",  "d10",
					  "d11", "d12", "d13", "d14", "d15", "sp"};
#else
#error "no register probes for this architecture"
#endif

static int n_passed, n_failed;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s - ", ok ? "ok" : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (ok)
		n_passed++;
	else
		n_failed++;
}

static void print_mask(const char *who, uint64_t mask)
{
	printf("  %s: registers not preserved:", who);
	for (int i = 0; i < 20; i++)
		if ((mask >> i & 1) && reg_names[i])
			printf(" %s", reg_names[i]);
	printf("\n");
}

static struct ctx main_ctx;
static struct stack_pool pool;

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define __SANITIZE_ADDRESS__ 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

/* A context left for good in the middle of a frame leaves ASan's redzones
 * poisoned on its stack; the next ctx_make on it would trip over them. */
static void stack_unpoison(void *st, size_t size)
{
#if defined(__SANITIZE_ADDRESS__)
	__asan_unpoison_memory_region(st, size);
#endif
}

static void stack_done(void *st)
{
	stack_unpoison(st, pool.size);
	stack_put(&pool, st);
}

/* --- entry: argument, alignment, return to the scheduler ----------------- */

struct entry_probe {
	uint64_t magic;
	void *arg_seen;
	uintptr_t sp_at_entry;
	uintptr_t aligned_local;
	int ran;
};

void ctx_test_entry(void *arg)
{
	struct entry_probe *p = arg;
	_Alignas(16) volatile char local[16];

	p->arg_seen = arg;
	p->sp_at_entry = ctx_check_entry_sp;
	p->aligned_local = (uintptr_t)local;
	local[0] = 1;
	p->ran++;
	static struct ctx dead; /* never resumed */
	ctx_switch(&dead, &main_ctx);
}

static void test_entry(void)
{
	/* Misaligned bases and odd sizes: ctx_make rounds the top down. */
	static const size_t offs[] = {0, 1, 3, 8, 12};
	static const size_t trims[] = {0, 1, 5, 8, 15};
	char *stack = stack_get(&pool);
	int bad_arg = 0, bad_sp = 0, bad_local = 0, not_ran = 0, runs = 0;
	uintptr_t first_bad_sp = 0;

	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
			struct entry_probe p = {.magic = 0x5eedf00dULL + (uint64_t)round};
			struct ctx c;
			size_t size = pool.size - offs[i] - trims[(i + (size_t)round) % 5];

			stack_unpoison(stack, pool.size);
			ctx_make(&c, stack + offs[i], size, ctx_check_entry, &p);
			ctx_switch(&main_ctx, &c);
			runs++;
			not_ran += p.ran != 1;
			bad_arg += p.arg_seen != &p || p.magic != 0x5eedf00dULL + (uint64_t)round;
			if (!ENTRY_SP_ALIGNED(p.sp_at_entry) && !bad_sp++)
				first_bad_sp = p.sp_at_entry;
			bad_local += p.aligned_local % 16 != 0;
		}
	}
	stack_done(stack);
	check(not_ran == 0, "a new context runs its entry once and switches back (%d runs)", runs);
	check(bad_arg == 0, "the entry argument arrives (%d wrong)", bad_arg);
	if (bad_sp)
		printf("  first misaligned sp at entry: %#" PRIxPTR "\n", first_bad_sp);
	check(bad_sp == 0, "sp at entry is aligned as the ABI wants (%d wrong)", bad_sp);
	check(bad_local == 0, "a 16-aligned local in the entry is aligned (%d wrong)", bad_local);
}

/* --- many switches around a ring of contexts ------------------------------ */

#define RING   5
#define ROUNDS 20000

static struct ctx ring_ctx[RING];
static uint64_t ring_seq, ring_bad;
static int ring_done[RING];
static void (*volatile ring_switch)(struct ctx *, struct ctx *) = ctx_switch;

static void ring_fn(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t local = (uint64_t)id * 1000003u; /* lives across switches */

	for (uint64_t r = 0; r < ROUNDS; r++) {
		if (ring_seq != r * RING + (uint64_t)id)
			ring_bad++;
		ring_seq++;
		local += r;
		/* The last one hands back to the scheduler; the others go on,
		 * through a pointer as a PLT would: under BTI that branch
		 * needs ctx_switch's landing pad. */
		ring_switch(&ring_ctx[id], id == RING - 1 ? &main_ctx : &ring_ctx[id + 1]);
	}
	if (local != (uint64_t)id * 1000003u + (uint64_t)ROUNDS * (ROUNDS - 1) / 2)
		ring_bad++;
	ring_done[id] = 1;
	/* Done: back to the scheduler for the last time (fn must not return). */
	ctx_switch(&ring_ctx[id], &main_ctx);
}

static void test_ring(void)
{
	void *stacks[RING];
	uint64_t rounds_seen = 0;
	int done = 0;

	for (int i = 0; i < RING; i++) {
		stacks[i] = stack_get(&pool);
		ctx_make(&ring_ctx[i], stacks[i], pool.size, ring_fn, (void *)(intptr_t)i);
	}
	for (uint64_t r = 0; r < ROUNDS; r++) {
		ctx_switch(&main_ctx, &ring_ctx[0]);
		rounds_seen++;
	}
	/* Each one's final switch to main, in order. */
	for (int i = 0; i < RING; i++) {
		ctx_switch(&main_ctx, &ring_ctx[i]);
		done += ring_done[i];
	}
	for (int i = 0; i < RING; i++)
		stack_done(stacks[i]);
	check(ring_bad == 0 && ring_seq == (uint64_t)RING * ROUNDS && rounds_seen == ROUNDS,
	      "%d contexts in a ring, %d switches, in order, locals kept (%" PRIu64 " wrong)", RING,
	      (RING + 1) * ROUNDS, ring_bad);
	check(done == RING, "each finished context switched back to the scheduler (%d of %d)", done,
	      RING);
}

/* --- callee-saved registers across switches ------------------------------- */

#define REG_ITERS 5000

static struct ctx reg_a, reg_b;
static uint64_t mask_a, mask_b;

static uint64_t seed(uint64_t who, uint64_t i)
{
	return (who << 56) ^ (i * 0x9e3779b97f4a7c15ULL) ^ 0x0123456789abcdefULL;
}

static void reg_fn_a(void *arg)
{
	for (uint64_t i = 0; i < REG_ITERS; i++)
		mask_a |= ctx_check_switch(&reg_a, &reg_b, seed(1, i));
	/* Back to main, which is inside its own ctx_check_switch. */
	mask_a |= ctx_check_switch(&reg_a, &main_ctx, seed(3, 0));
	ctx_switch(&reg_a, &main_ctx); /* not reached: main does not resume A */
}

static void reg_fn_b(void *arg)
{
	for (uint64_t i = 0;; i++)
		mask_b |= ctx_check_switch(&reg_b, &reg_a, seed(2, i));
}

static void test_registers(void)
{
	void *sa = stack_get(&pool), *sb = stack_get(&pool);

	ctx_make(&reg_a, sa, pool.size, reg_fn_a, NULL);
	ctx_make(&reg_b, sb, pool.size, reg_fn_b, NULL);
	uint64_t mask_main = ctx_check_switch(&main_ctx, &reg_a, seed(4, 0));
	stack_done(sa);
	stack_done(sb);
	if (mask_main)
		print_mask("scheduler", mask_main);
	if (mask_a)
		print_mask("context A", mask_a);
	if (mask_b)
		print_mask("context B", mask_b);
	check(!mask_main && !mask_a && !mask_b,
	      "callee-saved registers (" ARCH ": %s) and sp kept across %d switches",
#if defined(__aarch64__)
	      "x19-x29, d8-d15",
#else
	      "rbx, rbp, r12-r15",
#endif
	      2 * REG_ITERS + 2);
}

/* --- deep recursion on a task stack --------------------------------------- */

#define DEPTH 1000

static struct ctx deep_ctx;
static int deep_reached, deep_misaligned;
static uint64_t deep_sum;

__attribute__((noinline)) static uint64_t recurse(int depth)
{
	_Alignas(16) volatile unsigned char buf[112];

	if ((uintptr_t)buf % 16)
		deep_misaligned++;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(depth + (int)i);
	uint64_t below = 0;
	if (depth < DEPTH) {
		below = recurse(depth + 1);
	} else {
		/* At the bottom, go back to the scheduler and come back: every
		 * frame above must still be intact afterwards. */
		deep_reached = depth;
		ctx_switch(&deep_ctx, &main_ctx);
	}
	uint64_t mine = 0;
	for (size_t i = 0; i < sizeof buf; i++)
		mine += buf[i] == (unsigned char)(depth + (int)i);
	return below + mine;
}

static void deep_fn(void *arg)
{
	deep_sum = recurse(1);
	ctx_switch(&deep_ctx, &main_ctx);
}

static void test_deep(void)
{
	void *st = stack_get(&pool);

	ctx_make(&deep_ctx, st, pool.size, deep_fn, NULL);
	ctx_switch(&main_ctx, &deep_ctx);
	int reached = deep_reached;
	/* Scribble on the scheduler's own stack while the task is parked. */
	volatile char scratch[4096];
	memset((char *)scratch, 0xa5, sizeof scratch);
	ctx_switch(&main_ctx, &deep_ctx);
	stack_done(st);
	check(reached == DEPTH && deep_sum == (uint64_t)DEPTH * 112 && !deep_misaligned,
	      "recursion %d deep on a %zu KiB task stack, switched out at the bottom, frames "
	      "intact (%" PRIu64 " of %d bytes, %d misaligned)",
	      reached, pool.size / 1024, deep_sum, DEPTH * 112, deep_misaligned);
}

/* --- an entry function that returns traps --------------------------------- */

static void returns_fn(void *arg)
{
	(void)arg;
}

static void test_return_traps(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* qemu-user reports the guest's signal on stderr: not ours. */
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		alarm(10); /* a trampoline that loops instead */
		struct ctx c;
		void *st = stack_get(&pool);
		ctx_make(&c, st, pool.size, returns_fn, NULL);
		ctx_switch(&main_ctx, &c);
		_exit(0); /* the trampoline did not stop it */
	}
	int status = 0;
	waitpid(pid, &status, 0);
	check(WIFSIGNALED(status) && WTERMSIG(status) == SIGILL,
	      "an entry function that returns stops the process with SIGILL (%s %d)",
	      WIFSIGNALED(status) ? "signal" : "exit",
	      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ctx_test (" ARCH ")\n");
	stack_pool_init(&pool, 1024 * 1024, 8);
	/* First: its probes keep their callers' registers, so a switch that
	 * loses one is named here before C code elsewhere trips over it. */
	test_registers();
	test_entry();
	test_ring();
	test_deep();
	test_return_traps();
	stack_pool_destroy(&pool);
	printf("ctx_test: %d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
