/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/hooks.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char PATTERN[] = "0123456789abcdefghijklmnopqrstuvwxyz\n";

/* Environment variable through which the runner hands its run directory to the tests. */
#define RUNDIR_ENV "RINGCACHE_SCENARIO_RUNDIR"

/* ---- misc -------------------------------------------------------------- */

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

const char *excerpt(const char *p, size_t n)
{
	/* Several excerpts may appear in one assertion message. */
	static char bufs[4][600];
	static unsigned next;
	char *b = bufs[next++ % 4];
	size_t o = 0, i;
	if (!p)
		return "(null)";
	for (i = 0; i < n && o < 500; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '\r') {
			o += (size_t)snprintf(b + o, sizeof(bufs[0]) - o, "\\r");
		} else if (ch == '\n') {
			o += (size_t)snprintf(b + o, sizeof(bufs[0]) - o, "\\n");
		} else if (ch < 0x20 || ch >= 0x7f) {
			o += (size_t)snprintf(b + o, sizeof(bufs[0]) - o, "\\x%02x", ch);
		} else {
			b[o++] = (char)ch;
			b[o] = '\0';
		}
	}
	if (i < n)
		snprintf(b + o, sizeof(bufs[0]) - o, "...(%zu bytes)", n);
	else if (n == 0)
		b[0] = '\0';
	return b;
}

static char *read_file_all(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (f) {
		for (;;) {
			if (cap - len < 4096) {
				cap = cap ? cap * 2 : 8192;
				buf = realloc(buf, cap + 1);
				cr_assert_not_null(buf);
			}
			size_t k = fread(buf + len, 1, cap - len, f);
			if (k == 0)
				break;
			len += k;
		}
		fclose(f);
	}
	if (!buf) {
		buf = malloc(1);
		cr_assert_not_null(buf);
	}
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

/* ---- per-run and per-test directories, failure reports ------------------ */

/*
 * These hooks run in the Criterion runner, not in the forked test processes:
 * the runner is the only place that learns whether a test failed (including
 * by crash or timeout), so it is the one that prints the logs.
 */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (getenv(RUNDIR_ENV))
		return;
	char tmpl[] = "/tmp/ringcache-scenario.XXXXXX";
	if (mkdtemp(tmpl))
		setenv(RUNDIR_ENV, tmpl, 1);
}

static void print_file_tail(const char *path, const char *label)
{
	size_t len;
	char *text = read_file_all(path, &len);
	const size_t max = 12000;
	const char *start = len > max ? text + len - max : text;
	fprintf(stderr, "---- %s%s ----\n%s%s", label, len > max ? " (tail)" : "", start,
		len && text[len - 1] != '\n' ? "\n" : "");
	free(text);
}

static void print_test_files(struct criterion_test_stats *st, int crashed)
{
	const char *run = getenv(RUNDIR_ENV);
	char dir[PATH_MAX], path[PATH_MAX * 2];
	struct dirent **ents;
	if (!run ||
	    (!crashed && st->test_status == CR_STATUS_PASSED && !st->timed_out && !st->crashed))
		return;
	snprintf(dir, sizeof(dir), "%s/%s.%s", run, st->test->category, st->test->name);
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return;
	fprintf(stderr, "==== files of failed test %s::%s (%s) ====\n", st->test->category,
		st->test->name, dir);
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			print_file_tail(path, ents[i]->d_name);
		}
		free(ents[i]);
	}
	free(ents);
	fprintf(stderr, "==== end of files of %s::%s ====\n", st->test->category, st->test->name);
}

ReportHook(POST_TEST)(struct criterion_test_stats *st)
{
	print_test_files(st, 0);
}

/* A crashed test gets no POST_TEST. */
ReportHook(TEST_CRASH)(struct criterion_test_stats *st)
{
	print_test_files(st, 1);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

ReportHook(POST_ALL)(struct criterion_global_stats *gs)
{
	const char *run = getenv(RUNDIR_ENV);
	if (!run || strncmp(run, "/tmp/ringcache-scenario.", 24) != 0)
		return;
	if (gs->tests_failed == 0 && gs->tests_crashed == 0)
		nftw(run, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "scenario files (configs, logs) kept in %s\n", run);
}

const char *test_dir(void)
{
	static char dir[PATH_MAX];
	if (dir[0])
		return dir;
	const char *run = getenv(RUNDIR_ENV);
	char own[] = "/tmp/ringcache-scenario.XXXXXX";
	if (!run) {
		/* Run without the runner hook (e.g. a single-process debug run). */
		cr_assert_not_null(mkdtemp(own), "mkdtemp: %s", strerror(errno));
		run = own;
	}
	snprintf(dir, sizeof(dir), "%s/%s.%s", run, criterion_current_test->category,
		 criterion_current_test->name);
	cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", dir, strerror(errno));
	return dir;
}

/* OUT = test_dir()/NAME; fails the test rather than truncate. */
static void test_path(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void test_path(char *out, size_t size, const char *fmt, ...)
{
	char name[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	const char *dir = test_dir();
	cr_assert(n >= 0 && (size_t)n < sizeof(name) && strlen(dir) + 1 + (size_t)n < size,
		  "path too long: %s/%s", dir, name);
	memcpy(out, dir, strlen(dir));
	out[strlen(dir)] = '/';
	memcpy(out + strlen(dir) + 1, name, (size_t)n + 1);
}

void write_test_file(const char *name, const char *text, char *path_out, size_t path_size)
{
	test_path(path_out, path_size, "%s", name);
	FILE *f = fopen(path_out, "wb");
	cr_assert_not_null(f, "fopen %s: %s", path_out, strerror(errno));
	cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	cr_assert_eq(fclose(f), 0);
}

/* ---- process registry ----------------------------------------------------- */

#define MAX_PROCS 32
static pid_t g_pids[MAX_PROCS];

static void reg_add(pid_t pid)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		if (!g_pids[i]) {
			g_pids[i] = pid;
			return;
		}
	}
	kill(pid, SIGKILL);
	cr_assert_fail("harness: too many child processes");
}

static void reg_del(pid_t pid)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		if (g_pids[i] == pid)
			g_pids[i] = 0;
	}
}

/* SIGTERM, up to TERM_MS for a clean exit, then SIGKILL. Returns the wait status. */
static int terminate(pid_t pid, int term_ms)
{
	int st = 0;
	kill(pid, SIGTERM);
	double deadline = now_s() + term_ms / 1000.0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			return w == pid ? st : -1;
		if (now_s() > deadline)
			break;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	return st;
}

/* Daemons started by this test: at the end each must still run and must
 * exit 0 on SIGTERM (drain). Under the sanitizer build that also catches
 * leaks and memory errors, which make the process exit non-zero. */
static const char *describe_status(int st);

static struct {
	pid_t pid;
	char log[PATH_MAX];
} g_daemons[MAX_PROCS];

static bool registered(pid_t pid)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		if (g_pids[i] == pid)
			return true;
	}
	return false;
}

void harness_end(void)
{
	char failure[512] = "";
	const char *log = NULL;
	for (int i = 0; i < MAX_PROCS; i++) {
		pid_t pid = g_daemons[i].pid;
		if (!pid)
			continue;
		g_daemons[i].pid = 0;
		if (!registered(pid))
			continue; /* the test stopped or reaped it itself */
		int st = 0;
		pid_t w = waitpid(pid, &st, WNOHANG);
		bool was_dead = w == pid;
		if (!was_dead)
			st = terminate(pid, 12000);
		reg_del(pid);
		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !failure[0]) {
			snprintf(failure, sizeof(failure), "ringcache pid %d %s: %s", (int)pid,
				 was_dead ? "died during the test"
					  : "did not drain cleanly on SIGTERM",
				 describe_status(st));
			log = g_daemons[i].log;
		}
	}
	if (failure[0]) {
		char *text = read_file_all(log, NULL);
		cr_assert_fail("%s; its log:\n%s", failure, text ? text : "(none)");
	}
}

static void ports_release(void);

void harness_fini(void)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		if (g_pids[i]) {
			terminate(g_pids[i], 1000);
			g_pids[i] = 0;
		}
	}
	ports_release(); /* nothing of this test listens any more */
}

static void at_exit_cleanup(void)
{
	harness_fini();
}

/*
 * fork + exec with stdin from /dev/null and stdout/stderr to files. Only
 * async-signal-safe calls happen in the child: the test process may have
 * threads (Criterion's own).
 */
static pid_t spawn(char *const argv[], const char *out_path, const char *err_path)
{
	static int atexit_done;
	if (!atexit_done) {
		atexit(at_exit_cleanup);
		/* A peer closing on us must show as EPIPE, not kill the test. */
		signal(SIGPIPE, SIG_IGN);
		atexit_done = 1;
	}
	int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(out >= 0, "open %s: %s", out_path, strerror(errno));
	int err = out;
	if (strcmp(out_path, err_path) != 0) {
		err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		cr_assert(err >= 0, "open %s: %s", err_path, strerror(errno));
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Die with the test process, even if it is SIGKILLed on a timeout. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		/* The test process ignores SIGPIPE; the child must start with defaults. */
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], argv);
		static const char msg[] = "harness: execv failed\n";
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(127);
		_exit(127);
	}
	close(out);
	if (err != out)
		close(err);
	reg_add(pid);
	return pid;
}

/* Whether every thread of PID is stopped (state T or t in its stat). */
static bool all_stopped(pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool all = true, any = false;
	struct dirent *e;
	while ((e = readdir(d)) && all) {
		if (e->d_name[0] == '.')
			continue;
		char path[PATH_MAX], buf[512];
		snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* a thread that ended */
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		const char *rp = strrchr(buf, ')'); /* the state follows the name */
		char st = rp && rp[1] == ' ' ? rp[2] : '?';
		any = true;
		all = st == 'T' || st == 't';
	}
	closedir(d);
	return any && all;
}

void proc_stop(struct proc *p)
{
	cr_assert(p->pid > 0, "proc_stop: %s is not running", p->name);
	cr_assert_eq(kill(p->pid, SIGSTOP), 0, "SIGSTOP %s: %s", p->name, strerror(errno));
	double deadline = now_s() + 2;
	while (!all_stopped(p->pid)) {
		if (now_s() > deadline) {
			kill(p->pid, SIGCONT);
			cr_assert_fail("%s (pid %d) not stopped 2 s after SIGSTOP", p->name,
				       (int)p->pid);
		}
		sleep_ms(5);
	}
}

int proc_alive(struct proc *p)
{
	int st;
	if (!p->pid)
		return 0;
	pid_t w = waitpid(p->pid, &st, WNOHANG);
	if (w == 0)
		return 1;
	if (w == p->pid)
		p->wait_status = st;
	reg_del(p->pid);
	p->pid = 0;
	return 0;
}

int stop_proc(struct proc *p)
{
	if (!p->pid)
		return -1;
	int st = terminate(p->pid, 3000);
	reg_del(p->pid);
	p->pid = 0;
	p->wait_status = st;
	return st;
}

static long status_field_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	size_t fl = strlen(field);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

long proc_rss_kib(pid_t pid)
{
	return status_field_kib(pid, "VmRSS");
}

long proc_hwm_kib(pid_t pid)
{
	return status_field_kib(pid, "VmHWM");
}

char *proc_log(const struct proc *p)
{
	return read_file_all(p->log_path, NULL);
}

static const char *describe_status(int st)
{
	static char b[64];
	if (WIFEXITED(st))
		snprintf(b, sizeof(b), "exited with %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(b, sizeof(b), "killed by signal %d", WTERMSIG(st));
	else
		snprintf(b, sizeof(b), "wait status 0x%x", st);
	return b;
}

void assert_alive(struct proc *p)
{
	pid_t pid = p->pid;
	cr_assert(proc_alive(p), "%s (pid %d) is gone (%s); its log:\n%s", p->name, (int)pid,
		  describe_status(p->wait_status), proc_log(p));
}

/* Poll until P accepts on its port; fail the test if it exits or the deadline passes. */
static void wait_listening(struct proc *p, int timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;
	for (;;) {
		struct conn c;
		if (conn_try_open_at(&c, p->host[0] ? p->host : "127.0.0.1", p->port) == 0) {
			conn_close(&c);
			return;
		}
		if (!proc_alive(p)) {
			cr_assert_fail("%s exited at start (%s); its log:\n%s", p->name,
				       describe_status(p->wait_status), proc_log(p));
		}
		if (now_s() > deadline) {
			cr_assert_fail("%s does not accept on %s:%d after %d ms; its log:\n%s",
				       p->name, p->host[0] ? p->host : "127.0.0.1", p->port,
				       timeout_ms, proc_log(p));
		}
		sleep_ms(20);
	}
}

/* ---- ports ---------------------------------------------------------------- */

static int try_bind(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	socklen_t sl = sizeof(sin);
	if (rc == 0 && port == 0 && getsockname(fd, (struct sockaddr *)&sin, &sl) == 0)
		rc = ntohs(sin.sin_port);
	else if (rc == 0)
		rc = port;
	close(fd);
	return rc;
}

/*
 * Ports taken by the tests running now, across processes: Criterion runs
 * two tests at a time, each picking its own ports, and the daemon listens
 * with SO_REUSEPORT, so two daemons given one port would both start and
 * share its connections (one test's request answered by another test's
 * node). A port is claimed by creating PORT_DIR/PORT with O_EXCL, holding
 * the claiming process's pid; a claim whose process is gone is taken over.
 */
#define PORT_DIR "/tmp/ringcache-test-ports"

static int g_claimed[256];
static int g_nclaimed;

/* Give up this process's claims (each file still holding its pid). */
static void ports_release(void)
{
	for (int i = 0; i < g_nclaimed; i++) {
		char path[128];
		snprintf(path, sizeof(path), PORT_DIR "/%d", g_claimed[i]);
		FILE *f = fopen(path, "r");
		int owner = 0;
		if (f) {
			if (fscanf(f, "%d", &owner) != 1)
				owner = 0;
			fclose(f);
		}
		if (owner == (int)getpid())
			unlink(path);
	}
	g_nclaimed = 0;
}

static bool port_claim(int port)
{
	char path[128];
	mkdir(PORT_DIR, 01777);
	snprintf(path, sizeof(path), PORT_DIR "/%d", port);
	for (int tries = 0; tries < 2; tries++) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			char pid[24];
			int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
			bool ok = write(fd, pid, (size_t)n) == n;
			close(fd);
			if (ok && g_nclaimed < (int)(sizeof(g_claimed) / sizeof(g_claimed[0])))
				g_claimed[g_nclaimed++] = port;
			return ok;
		}
		if (errno != EEXIST)
			return true; /* no claims here: the bind check alone */
		FILE *f = fopen(path, "r");
		int owner = 0;
		if (f) {
			if (fscanf(f, "%d", &owner) != 1)
				owner = 0;
			fclose(f);
		}
		if (owner == (int)getpid())
			return false; /* ours already (a port picked twice) */
		if (owner > 0 && (kill(owner, 0) == 0 || errno != ESRCH))
			return false;
		unlink(path); /* its process is gone */
	}
	return false;
}

int free_port(void)
{
	static unsigned seed;
	static int used[64];
	static int n_used;
	int lo = 32768, hi = 60999;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	if (!seed) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec;
	}
	/* Below the ephemeral range: see harness.h. */
	if (lo > 11000) {
		for (int attempt = 0; attempt < 500; attempt++) {
			int port = 10000 + (int)(rand_r(&seed) % (unsigned)(lo - 10000));
			int dup = 0;
			for (int i = 0; i < n_used; i++)
				dup |= used[i] == port;
			if (dup || try_bind(port) != port || !port_claim(port))
				continue;
			if (n_used < 64)
				used[n_used++] = port;
			return port;
		}
	}
	int port = try_bind(0);
	cr_assert(port > 0, "no free port: %s", strerror(errno));
	return port;
}

/* ---- starting the binaries -------------------------------------------------- */

void start_origin(struct proc *o)
{
	start_origin_on(o, 0);
}

void start_origin_on(struct proc *o, int port)
{
	start_origin_at(o, "127.0.0.1", port);
}

void start_origin_at(struct proc *o, const char *ip, int port)
{
	static int n;
	char addr[64];
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "origin-%d", ++n);
	snprintf(o->host, sizeof(o->host), "%s", ip);
	test_path(o->log_path, sizeof(o->log_path), "%s.log", o->name);
	cr_assert(access(ORIGIN_BIN, X_OK) == 0, "origin binary %s: %s", ORIGIN_BIN,
		  strerror(errno));
	o->port = port ? port : free_port();
	snprintf(addr, sizeof(addr), "%s:%d", ip, o->port);
	char *argv[] = {(char *)ORIGIN_BIN, (char *)"-l", addr, NULL};
	o->pid = spawn(argv, o->log_path, o->log_path);
	wait_listening(o, 5000);
}

void start_redis(struct proc *r, int port, bool persist)
{
	memset(r, 0, sizeof(*r));
	r->port = port ? port : free_port();
	snprintf(r->name, sizeof(r->name), "redis-%d", r->port);
	test_path(r->log_path, sizeof(r->log_path), "%s.log", r->name);
	const char *bin = "/usr/bin/redis-server";
	cr_assert(access(bin, X_OK) == 0, "%s: %s (scripts/deps.sh installs redis-server)", bin,
		  strerror(errno));
	char portz[16], dir[PATH_MAX];
	snprintf(portz, sizeof(portz), "%d", r->port);
	snprintf(dir, sizeof(dir), "%s", test_dir());
	char *argv[] = {(char *)bin,
			(char *)"--port",
			portz,
			(char *)"--bind",
			(char *)"127.0.0.1",
			(char *)"--save",
			(char *)"",
			(char *)"--appendonly",
			(char *)(persist ? "yes" : "no"),
			(char *)"--appendfsync",
			(char *)"always",
			(char *)"--appenddirname",
			r->name,
			(char *)"--dir",
			dir,
			(char *)"--daemonize",
			(char *)"no",
			NULL};
	r->pid = spawn(argv, r->log_path, r->log_path);
	wait_listening(r, 5000);
}

void start_ringcache(struct proc *d, const char *yaml)
{
	start_ringcache_under(d, yaml, NULL);
}

void start_ringcache_under(struct proc *d, const char *yaml, const char *const *wrapper)
{
	static int n;
	int port = d->port;
	cr_assert(port > 0, "start_ringcache: set d->port to the YAML's listen port");
	memset(d, 0, sizeof(*d));
	d->port = port;
	snprintf(d->name, sizeof(d->name), "ringcache-%d", ++n);
	test_path(d->log_path, sizeof(d->log_path), "%s.log", d->name);
	char cfg_name[64];
	snprintf(cfg_name, sizeof(cfg_name), "%s.yaml", d->name);
	write_test_file(cfg_name, yaml, d->cfg_path, sizeof(d->cfg_path));
	cr_assert(access(RINGCACHE_BIN, X_OK) == 0, "daemon binary %s: %s", RINGCACHE_BIN,
		  strerror(errno));
	char *argv[16];
	size_t k = 0;
	for (; wrapper && wrapper[k] && k < 12; k++)
		argv[k] = (char *)wrapper[k];
	argv[k++] = (char *)RINGCACHE_BIN;
	argv[k++] = (char *)"-c";
	argv[k++] = d->cfg_path;
	argv[k] = NULL;
	d->pid = spawn(argv, d->log_path, d->log_path);
	for (int i = 0; i < MAX_PROCS; i++) {
		if (!g_daemons[i].pid) {
			g_daemons[i].pid = d->pid;
			snprintf(g_daemons[i].log, sizeof(g_daemons[i].log), "%s", d->log_path);
			break;
		}
	}
	wait_listening(d, 5000);
}

char *rc_yaml(const struct rc_cfg *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	cr_assert_not_null(f);
	fprintf(f, "listen: [\"127.0.0.1:%d\"]\n", c->port);
	fprintf(f, "threads: 2\n");
	fprintf(f, "backends:\n");
	fprintf(f, "  - name: app\n");
	fprintf(f, "    servers: [");
	for (size_t i = 0; i < c->n_servers; i++)
		fprintf(f, "%s\"127.0.0.1:%d\"", i ? ", " : "", c->servers[i]);
	fprintf(f, "]\n");
	fprintf(f, "    connect_timeout: %s\n", c->connect_timeout ? c->connect_timeout : "1s");
	fprintf(f, "    first_byte_timeout: %s\n",
		c->first_byte_timeout ? c->first_byte_timeout : "1s");
	fprintf(f, "    between_bytes_timeout: %s\n",
		c->between_bytes_timeout ? c->between_bytes_timeout : "1s");
	fprintf(f, "timeouts:\n");
	fprintf(f, "  client_header: %s\n", c->client_header ? c->client_header : "2s");
	fprintf(f, "  client_idle: %s\n", c->client_idle ? c->client_idle : "5s");
	if (c->task_budget)
		fprintf(f, "  task_budget: %s\n", c->task_budget);
	fprintf(f, "limits:\n");
	fprintf(f, "  max_header_size: %s\n", c->max_header_size ? c->max_header_size : "8KiB");
	if (c->extra)
		fputs(c->extra, f);
	cr_assert_eq(fclose(f), 0);
	return out;
}

void start_pair(struct proc *o, struct proc *d)
{
	start_origin(o);
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char *yaml =
	    rc_yaml(&(struct rc_cfg){.port = d->port, .servers = &o->port, .n_servers = 1});
	start_ringcache(d, yaml);
	free(yaml);
}

void run_cmd(char *const argv[], int timeout_ms, struct cmd_result *r)
{
	static int n;
	char out_path[PATH_MAX], err_path[PATH_MAX];
	memset(r, 0, sizeof(*r));
	n++;
	test_path(out_path, sizeof(out_path), "cmd-%d.out", n);
	test_path(err_path, sizeof(err_path), "cmd-%d.err", n);
	pid_t pid = spawn(argv, out_path, err_path);
	double deadline = now_s() + timeout_ms / 1000.0;
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (now_s() > deadline) {
			r->timed_out = 1;
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
			}
			break;
		}
		sleep_ms(5);
	}
	reg_del(pid);
	r->exited = WIFEXITED(st) && !r->timed_out;
	r->exit_code = r->exited ? WEXITSTATUS(st) : -1;
	r->out = read_file_all(out_path, NULL);
	r->err = read_file_all(err_path, NULL);
}

void cmd_result_free(struct cmd_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* ---- client connections ------------------------------------------------ */

int conn_try_open(struct conn *c, int port)
{
	return conn_try_open_at(c, "127.0.0.1", port);
}

int conn_try_open_at(struct conn *c, const char *ip, int port)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->port = port;
	c->timeout_ms = HARNESS_IO_TIMEOUT_MS;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Partial heads and pipelined requests must leave at once, as written. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = {HARNESS_IO_TIMEOUT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1) {
		close(fd);
		return -EINVAL;
	}
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	c->fd = fd;
	c->cap = 64 * 1024;
	c->buf = malloc(c->cap);
	cr_assert_not_null(c->buf);
	return 0;
}

void conn_open(struct conn *c, int port)
{
	int rc = conn_try_open(c, port);
	cr_assert_eq(rc, 0, "connect 127.0.0.1:%d: %s", port, strerror(-rc));
}

void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->cap = c->off = c->len = 0;
}

int conn_send(struct conn *c, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t k = send(c->fd, p, len, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int conn_send_str(struct conn *c, const char *s)
{
	return conn_send(c, s, strlen(s));
}

int conn_sendf(struct conn *c, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0);
	int rc = conn_send(c, s, (size_t)n);
	free(s);
	return rc;
}

size_t conn_pending(const struct conn *c)
{
	return c->len - c->off;
}

/*
 * Receive more bytes into the buffer, waiting at most TIMEOUT_MS.
 * Returns bytes read, 0 on close (FIN or RST; see c->eof / c->reset),
 * -ETIMEDOUT, or another -errno.
 */
int conn_fill(struct conn *c, int timeout_ms)
{
	if (c->eof || c->reset)
		return 0;
	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == c->cap) {
		c->cap *= 2;
		c->buf = realloc(c->buf, c->cap);
		cr_assert_not_null(c->buf);
	}
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	int n;
	while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR) {
	}
	if (n == 0)
		return -ETIMEDOUT;
	if (n < 0)
		return -errno;
	ssize_t k;
	while ((k = recv(c->fd, c->buf + c->len, c->cap - c->len, 0)) < 0 && errno == EINTR) {
	}
	if (k > 0) {
		c->len += (size_t)k;
		return (int)k;
	}
	if (k == 0) {
		c->eof = 1;
		return 0;
	}
	if (errno == ECONNRESET) {
		c->reset = 1;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -ETIMEDOUT;
	return -errno;
}

int conn_wait_closed(struct conn *c, int timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;
	for (;;) {
		if (c->eof || c->reset)
			return 1;
		int left = (int)((deadline - now_s()) * 1000);
		if (left <= 0)
			return 0;
		int k = conn_fill(c, left);
		if (k < 0 && k != -ETIMEDOUT)
			return 1; /* any other socket error: the connection is gone too */
	}
}

int conn_read_until_close(struct conn *c, int timeout_ms, char **out, size_t *out_len)
{
	int closed = conn_wait_closed(c, timeout_ms);
	size_t n = conn_pending(c);
	*out = malloc(n + 1);
	cr_assert_not_null(*out);
	memcpy(*out, c->buf + c->off, n);
	(*out)[n] = '\0';
	c->off = c->len;
	if (out_len)
		*out_len = n;
	return closed;
}

/* ---- response parsing ------------------------------------------------------- */

static void set_err(struct response *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct response *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

static int is_tchar(int ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Parse one "Name: value" line (no CRLF) into *H. 0, or -1 if malformed. */
static int parse_field(const char *line, size_t len, struct header *h)
{
	size_t i = 0;
	while (i < len && is_tchar((unsigned char)line[i]))
		i++;
	/* No space before the colon, no obs-fold, no bare CR/LF inside. */
	if (i == 0 || i >= len || line[i] != ':')
		return -1;
	for (size_t k = 0; k < len; k++) {
		if (line[k] == '\r' || line[k] == '\n' || line[k] == '\0')
			return -1;
	}
	size_t vs = i + 1, ve = len;
	while (vs < ve && (line[vs] == ' ' || line[vs] == '\t'))
		vs++;
	while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
		ve--;
	h->name = strndup(line, i);
	h->value = strndup(line + vs, ve - vs);
	cr_assert(h->name && h->value);
	return 0;
}

static void push_field(struct header **arr, size_t *n, struct header h)
{
	*arr = realloc(*arr, (*n + 1) * sizeof(**arr));
	cr_assert_not_null(*arr);
	(*arr)[(*n)++] = h;
}

static int parse_head(struct response *r, const char *head, size_t len)
{
	const char *end = head + len;
	const char *eol = memmem(head, len, "\r\n", 2);
	const char *p = head;
	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)p[7]) ||
	    p[8] != ' ' || !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11]) || (p + 12 != eol && p[12] != ' ')) {
		set_err(r, "bad status line: %s", excerpt(head, eol ? (size_t)(eol - head) : len));
		return -1;
	}
	r->minor = p[7] - '0';
	r->status = atoi(p + 9);
	r->reason = p + 12 < eol ? strndup(p + 13, (size_t)(eol - p - 13)) : strdup("");
	for (p = eol + 2; p < end;) {
		const char *le = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!le || le == p)
			break; /* the final blank line */
		struct header h;
		if (parse_field(p, (size_t)(le - p), &h) < 0) {
			set_err(r, "bad header line: %s", excerpt(p, (size_t)(le - p)));
			return -1;
		}
		push_field(&r->headers, &r->n_headers, h);
		p = le + 2;
	}
	return 0;
}

static int deliver(struct response *r, body_sink sink, void *ctx, const char *p, size_t n,
		   size_t *cap)
{
	r->body_len += n;
	if (sink)
		return sink(ctx, p, n);
	if (r->body_len + 1 > *cap) {
		while (r->body_len + 1 > *cap)
			*cap = *cap ? *cap * 2 : 4096;
		r->body = realloc(r->body, *cap);
		cr_assert_not_null(r->body);
	}
	memcpy(r->body + r->body_len - n, p, n);
	r->body[r->body_len] = '\0';
	return 0;
}

/* Wait until the buffer holds a CRLF-terminated line; returns its length (no CRLF) or <0. */
static long get_line(struct conn *c, struct response *r, const char *what)
{
	for (;;) {
		const char *e = memmem(c->buf + c->off, c->len - c->off, "\r\n", 2);
		if (e)
			return e - (c->buf + c->off);
		if (c->len - c->off > 8192) {
			set_err(r, "%s line too long", what);
			return -1;
		}
		int k = conn_fill(c, c->timeout_ms);
		if (k == 0) {
			set_err(r, "peer closed in %s (%s)", what, c->reset ? "reset" : "eof");
			return -1;
		}
		if (k < 0) {
			set_err(r, "%s: %s", what, strerror(-k));
			return -1;
		}
	}
}

/* Stream exactly N body bytes from the connection. 0 when all came. */
static int read_exact(struct conn *c, struct response *r, unsigned long long n, body_sink sink,
		      void *ctx, size_t *cap)
{
	while (n > 0) {
		if (c->off == c->len) {
			int k = conn_fill(c, c->timeout_ms);
			if (k == 0) {
				set_err(r, "peer closed (%s) with %llu body bytes missing",
					c->reset ? "reset" : "eof", n);
				return -1;
			}
			if (k < 0) {
				set_err(r, "reading body: %s with %llu bytes missing", strerror(-k),
					n);
				return -1;
			}
		}
		size_t take = c->len - c->off;
		if (take > n)
			take = (size_t)n;
		const char *p = c->buf + c->off;
		c->off += take;
		n -= take;
		if (deliver(r, sink, ctx, p, take, cap)) {
			set_err(r, "stopped by the sink");
			return -1;
		}
	}
	return 0;
}

static int read_chunked(struct conn *c, struct response *r, body_sink sink, void *ctx, size_t *cap)
{
	for (;;) {
		long ll = get_line(c, r, "chunk-size");
		if (ll < 0)
			return -1;
		const char *line = c->buf + c->off;
		unsigned long long size = 0;
		long i = 0;
		while (i < ll && isxdigit((unsigned char)line[i]) && i < 16) {
			int ch = tolower((unsigned char)line[i]);
			size = size * 16 + (unsigned)(isdigit(ch) ? ch - '0' : ch - 'a' + 10);
			i++;
		}
		long j = i;
		while (j < ll && (line[j] == ' ' || line[j] == '\t'))
			j++;
		if (i == 0 || (j < ll && line[j] != ';')) {
			set_err(r, "bad chunk-size line: %s", excerpt(line, (size_t)ll));
			return -1;
		}
		c->off += (size_t)ll + 2;
		if (size == 0)
			break;
		r->n_chunks++;
		if (read_exact(c, r, size, sink, ctx, cap) < 0)
			return -1;
		ll = get_line(c, r, "chunk-data end");
		if (ll < 0)
			return -1;
		if (ll != 0) {
			set_err(r, "chunk data longer than its size: %s",
				excerpt(c->buf + c->off, (size_t)ll));
			return -1;
		}
		c->off += 2;
	}
	for (;;) {
		long ll = get_line(c, r, "trailer");
		if (ll < 0)
			return -1;
		const char *line = c->buf + c->off;
		if (ll == 0) {
			c->off += 2;
			return 0;
		}
		struct header h;
		if (parse_field(line, (size_t)ll, &h) < 0) {
			set_err(r, "bad trailer line: %s", excerpt(line, (size_t)ll));
			return -1;
		}
		push_field(&r->trailers, &r->n_trailers, h);
		c->off += (size_t)ll + 2;
	}
}

static int last_token_is(const char *v, const char *tok)
{
	const char *comma = strrchr(v, ',');
	const char *s = comma ? comma + 1 : v;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return n == strlen(tok) && !strncasecmp(s, tok, n);
}

int read_response_sink(struct conn *c, struct response *r, int flags, body_sink sink, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	size_t cap = 0;
	const char *end;

	/* The head: everything up to the first blank line. */
	for (;;) {
		end = memmem(c->buf + c->off, c->len - c->off, "\r\n\r\n", 4);
		if (end)
			break;
		if (c->len - c->off > 1024 * 1024) {
			set_err(r, "no end of head within 1 MiB");
			return r->result = READ_BAD;
		}
		int k = conn_fill(c, c->timeout_ms);
		if (k == 0) {
			int had = c->len > c->off;
			set_err(r, "peer closed (%s) %s", c->reset ? "reset" : "eof",
				had ? "in the middle of a response head" : "before any response");
			r->peer_closed = 1;
			if (had)
				r->raw_head = strndup(c->buf + c->off, c->len - c->off);
			return r->result = had ? READ_CLOSED_HEAD : READ_CLOSED;
		}
		if (k < 0) {
			set_err(r, "waiting for a response head: %s (have %s)", strerror(-k),
				excerpt(c->buf + c->off, c->len - c->off));
			return r->result = k == -ETIMEDOUT ? READ_TIMEOUT : READ_BAD;
		}
	}
	size_t head_len = (size_t)(end + 4 - (c->buf + c->off));
	r->raw_head = strndup(c->buf + c->off, head_len);
	cr_assert_not_null(r->raw_head);
	c->off += head_len;
	if (parse_head(r, r->raw_head, head_len) < 0)
		return r->result = READ_BAD;

	/* The body's framing, as RFC 9112 section 6.3 orders it. */
	const char *te = resp_header(r, "Transfer-Encoding");
	size_t n_cl = resp_header_count(r, "Content-Length");
	if ((flags & RESP_HEAD) || r->status / 100 == 1 || r->status == 204 || r->status == 304) {
		r->framing = FRAME_NONE;
	} else if (te) {
		if (n_cl) {
			/* A proxy must never emit both: that is how requests get smuggled. */
			set_err(r, "both Transfer-Encoding and Content-Length");
			return r->result = READ_BAD;
		}
		r->framing = last_token_is(te, "chunked") ? FRAME_CHUNKED : FRAME_CLOSE;
	} else if (n_cl) {
		for (size_t i = 0; i < r->n_headers; i++) {
			if (strcasecmp(r->headers[i].name, "Content-Length"))
				continue;
			const char *v = r->headers[i].value;
			char *e;
			if (!*v || strspn(v, "0123456789") != strlen(v)) {
				set_err(r, "bad Content-Length: %s", v);
				return r->result = READ_BAD;
			}
			long long cl = strtoll(v, &e, 10);
			if (r->content_length >= 0 && cl != r->content_length) {
				set_err(r, "conflicting Content-Length headers");
				return r->result = READ_BAD;
			}
			r->content_length = cl;
		}
		r->framing = FRAME_LENGTH;
	} else {
		r->framing = FRAME_CLOSE;
	}

	switch (r->framing) {
	case FRAME_NONE:
		r->complete = 1;
		break;
	case FRAME_LENGTH:
		r->complete =
		    read_exact(c, r, (unsigned long long)r->content_length, sink, ctx, &cap) == 0;
		break;
	case FRAME_CHUNKED:
		r->complete = read_chunked(c, r, sink, ctx, &cap) == 0;
		break;
	case FRAME_CLOSE:
		for (;;) {
			size_t n = c->len - c->off;
			if (n) {
				const char *p = c->buf + c->off;
				c->off = c->len;
				if (deliver(r, sink, ctx, p, n, &cap)) {
					set_err(r, "stopped by the sink");
					break;
				}
			}
			int k = conn_fill(c, c->timeout_ms);
			if (k == 0) {
				/* A reset is not a clean end of a close-delimited body. */
				r->complete = c->eof && !c->reset;
				if (!r->complete)
					set_err(r, "close-delimited body ended by a reset");
				break;
			}
			if (k < 0) {
				set_err(r, "close-delimited body: %s", strerror(-k));
				break;
			}
		}
		break;
	}
	if (!r->body && !sink) {
		r->body = calloc(1, 1);
		cr_assert_not_null(r->body);
	}
	r->peer_closed = c->eof || c->reset;
	return r->result = READ_OK;
}

int read_response(struct conn *c, struct response *r, int flags)
{
	return read_response_sink(c, r, flags, NULL, NULL);
}

void response_free(struct response *r)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	for (size_t i = 0; i < r->n_trailers; i++) {
		free(r->trailers[i].name);
		free(r->trailers[i].value);
	}
	free(r->headers);
	free(r->trailers);
	free(r->raw_head);
	free(r->reason);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static const char *find_field(const struct header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcasecmp(h[i].name, name))
			return h[i].value;
	}
	return NULL;
}

const char *resp_header(const struct response *r, const char *name)
{
	return find_field(r->headers, r->n_headers, name);
}

const char *resp_trailer(const struct response *r, const char *name)
{
	return find_field(r->trailers, r->n_trailers, name);
}

size_t resp_header_count(const struct response *r, const char *name)
{
	size_t k = 0;
	for (size_t i = 0; i < r->n_headers; i++)
		k += !strcasecmp(r->headers[i].name, name);
	return k;
}

int resp_header_has_token(const struct response *r, const char *name, const char *token)
{
	size_t tl = strlen(token);
	for (size_t i = 0; i < r->n_headers; i++) {
		if (strcasecmp(r->headers[i].name, name))
			continue;
		const char *s = r->headers[i].value;
		while (*s) {
			while (*s == ' ' || *s == '\t' || *s == ',')
				s++;
			const char *e = s;
			while (*e && *e != ',')
				e++;
			const char *t = e;
			while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
				t--;
			if ((size_t)(t - s) == tl && !strncasecmp(s, token, tl))
				return 1;
			s = e;
		}
	}
	return 0;
}

void http_req(struct conn *c, const char *method, const char *path, const char *extra,
	      struct response *r)
{
	int rc = conn_sendf(c, "%s %s HTTP/1.1\r\nHost: test.local\r\n%s\r\n", method, path,
			    extra ? extra : "");
	cr_assert_eq(rc, 0, "sending %s %s: %s", method, path, strerror(-rc));
	rc = read_response(c, r, !strcmp(method, "HEAD") ? RESP_HEAD : 0);
	cr_assert_eq(rc, READ_OK, "%s %s on port %d: no response: %s", method, path, c->port,
		     r->error);
}

void http_get_once(int port, const char *path, struct response *r)
{
	struct conn c;
	conn_open(&c, port);
	http_req(&c, "GET", path, NULL, r);
	conn_close(&c);
}

/* ---- origin helpers ----------------------------------------------------- */

char pattern_at(unsigned long long off)
{
	return PATTERN[off % PATTERN_LEN];
}

char *pattern_make(size_t n)
{
	char *p = malloc(n + 1);
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = PATTERN[i % PATTERN_LEN];
	p[n] = '\0';
	return p;
}

long long pattern_mismatch(const char *p, size_t n, unsigned long long off)
{
	size_t k = (size_t)(off % PATTERN_LEN);
	for (size_t i = 0; i < n; i++) {
		if (p[i] != PATTERN[k])
			return (long long)i;
		if (++k == PATTERN_LEN)
			k = 0;
	}
	return -1;
}

long origin_requests(int origin_port, const char *key)
{
	return origin_requests_at("127.0.0.1", origin_port, key);
}

long origin_requests_at(const char *ip, int origin_port, const char *key)
{
	char path[1024];
	size_t o = (size_t)snprintf(path, sizeof(path), "/__stats");
	if (key) {
		o += (size_t)snprintf(path + o, sizeof(path) - o, "?key=");
		for (const char *s = key; *s && o + 4 < sizeof(path); s++) {
			unsigned char ch = (unsigned char)*s;
			if (isalnum(ch) || strchr("-._~/", ch))
				path[o++] = (char)ch;
			else
				o += (size_t)snprintf(path + o, sizeof(path) - o, "%%%02X", ch);
		}
		path[o] = '\0';
	}
	struct conn c;
	struct response r;
	if (conn_try_open_at(&c, ip, origin_port) < 0)
		return -1;
	long n = -1;
	if (conn_sendf(&c, "GET %s HTTP/1.1\r\nHost: origin\r\n\r\n", path) == 0 &&
	    read_response(&c, &r, 0) == READ_OK) {
		const char *q = r.status == 200 && r.body ? strstr(r.body, "\"requests\"") : NULL;
		if (q && (q = strchr(q, ':')))
			n = strtol(q + 1, NULL, 10);
		response_free(&r);
	}
	conn_close(&c);
	return n;
}

int echo_split(const struct response *r, const char **head, size_t *head_len, const char **body,
	       size_t *body_len)
{
	if (!r->body)
		return -1;
	const char *b = r->body;
	const char *e = memmem(b, r->body_len, "\r\n\r\n", 4);
	size_t sep = 4;
	if (!e) {
		e = memmem(b, r->body_len, "\n\n", 2);
		sep = 2;
	}
	if (!e)
		return -1;
	*head = b;
	*head_len = (size_t)(e - b) + sep / 2;
	*body = e + sep;
	*body_len = r->body_len - (size_t)(e + sep - b);
	return 0;
}

/*
 * Scan the header lines of an echoed head for NAME: copy the value of the
 * SKIP_N-th match to OUT, or (OUT NULL) count the matches into *COUNT.
 */
static const char *echo_find(const char *head, size_t len, const char *name, size_t skip_n,
			     size_t *count, char *out, size_t out_size)
{
	const char *p = memchr(head, '\n', len); /* skip the request line */
	const char *end = head + len;
	size_t nl = strlen(name), seen = 0;
	if (!p)
		return NULL;
	for (p++; p < end;) {
		const char *le = memchr(p, '\n', (size_t)(end - p));
		if (!le)
			le = end;
		const char *lend = le > p && le[-1] == '\r' ? le - 1 : le;
		if ((size_t)(lend - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
			if (seen++ == skip_n && out) {
				const char *v = p + nl + 1;
				while (v < lend && (*v == ' ' || *v == '\t'))
					v++;
				size_t vl = (size_t)(lend - v);
				if (vl >= out_size)
					vl = out_size - 1;
				memcpy(out, v, vl);
				out[vl] = '\0';
				return out;
			}
		}
		p = le + 1;
	}
	if (count)
		*count = seen;
	return NULL;
}

const char *echo_header(const char *head, size_t head_len, const char *name, char *out,
			size_t out_size)
{
	return echo_find(head, head_len, name, 0, NULL, out, out_size);
}

size_t echo_header_count(const char *head, size_t head_len, const char *name)
{
	size_t n = 0;
	echo_find(head, head_len, name, 0, &n, NULL, 0);
	return n;
}

/* ---- cache and admin helpers --------------------------------------------- */

void start_pair_extra(struct proc *o, struct proc *d, const char *extra)
{
	start_origin(o);
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char *yaml = rc_yaml(
	    &(struct rc_cfg){.port = d->port, .servers = &o->port, .n_servers = 1, .extra = extra});
	start_ringcache(d, yaml);
	free(yaml);
}

int port_wait(int port, int timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;
	for (;;) {
		struct conn c;
		if (conn_try_open(&c, port) == 0) {
			conn_close(&c);
			return 1;
		}
		if (now_s() > deadline)
			return 0;
		sleep_ms(20);
	}
}

void http_once(int port, const char *method, const char *path, const char *extra,
	       struct response *r)
{
	struct conn c;
	conn_open(&c, port);
	http_req(&c, method, path, extra, r);
	conn_close(&c);
}

const char *cache_status(const struct response *r)
{
	const char *v = resp_header(r, "Cache-Status");
	return v ? v : "(none)";
}

/* Walk the ';'-separated members of Cache-Status: [*S, *E) is the next one, trimmed. */
static int cs_next(const char **pos, const char **s, const char **e)
{
	const char *p = *pos;
	while (*p == ' ' || *p == '\t' || *p == ';')
		p++;
	if (!*p)
		return 0;
	const char *end = strchr(p, ';');
	if (!end)
		end = p + strlen(p);
	*pos = end;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*s = p;
	*e = end;
	return 1;
}

int cache_status_has(const struct response *r, const char *item)
{
	const char *pos = resp_header(r, "Cache-Status"), *s, *e;
	size_t il = strlen(item);
	if (!pos)
		return 0;
	while (cs_next(&pos, &s, &e)) {
		if ((size_t)(e - s) == il && !memcmp(s, item, il))
			return 1;
	}
	return 0;
}

long cache_status_param(const struct response *r, const char *name, long def)
{
	const char *pos = resp_header(r, "Cache-Status"), *s, *e;
	size_t nl = strlen(name);
	if (!pos)
		return def;
	while (cs_next(&pos, &s, &e)) {
		if ((size_t)(e - s) > nl + 1 && !memcmp(s, name, nl) && s[nl] == '=') {
			char *end;
			long v = strtol(s + nl + 1, &end, 10);
			return end == e ? v : def;
		}
	}
	return def;
}

long long json_number(const char *json, const char *name, long long def)
{
	size_t nl = strlen(name);
	for (const char *p = json ? strchr(json, '"') : NULL; p; p = strchr(p + 1, '"')) {
		if (strncmp(p + 1, name, nl) != 0 || p[1 + nl] != '"')
			continue;
		const char *q = p + 2 + nl;
		while (isspace((unsigned char)*q))
			q++;
		if (*q != ':')
			continue;
		q++;
		while (isspace((unsigned char)*q))
			q++;
		char *end;
		long long v = strtoll(q, &end, 10);
		if (end != q)
			return v;
	}
	return def;
}

const char *pct_encode(const char *s, char *out, size_t out_size)
{
	size_t o = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		cr_assert(o + 4 < out_size, "pct_encode: output too small");
		if (isalnum(ch) || strchr("-._~/", ch))
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, out_size - o, "%%%02X", ch);
	}
	out[o] = '\0';
	return out;
}
