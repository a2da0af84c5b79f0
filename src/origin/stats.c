/* stats.c - mutex-guarded hash table of per-request-target counters. */
#include "origin/stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Distinct targets kept at most: a cache-busting benchmark sends a new
 * target per request, and the origin must not grow without bound. Targets
 * beyond the cap still count towards the total. */
#define STATS_MAX_KEYS (256u * 1024u)

struct entry {
	struct entry *next;
	uint64_t hash;
	uint64_t count;
	size_t len;
	char key[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry **buckets;
static size_t nbuckets; /* power of two */
static size_t nkeys;
static uint64_t total;
static uint64_t upgrades;

static uint64_t hash_key(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void stats_init(void)
{
	pthread_mutex_lock(&lock);
	if (!buckets) {
		nbuckets = 1024;
		buckets = calloc(nbuckets, sizeof(*buckets));
		if (!buckets)
			nbuckets = 0;
	}
	pthread_mutex_unlock(&lock);
}

/* Caller holds the lock. */
static void clear_locked(void)
{
	for (size_t i = 0; i < nbuckets; i++) {
		struct entry *e = buckets[i];
		while (e) {
			struct entry *next = e->next;
			free(e);
			e = next;
		}
		buckets[i] = NULL;
	}
	nkeys = 0;
	total = 0;
	upgrades = 0;
}

void stats_destroy(void)
{
	pthread_mutex_lock(&lock);
	clear_locked();
	free(buckets);
	buckets = NULL;
	nbuckets = 0;
	pthread_mutex_unlock(&lock);
}

/* Double the table when it is full; on allocation failure keep the old one
 * (chains just get longer). Caller holds the lock. */
static void grow_locked(void)
{
	size_t n = nbuckets * 2;
	struct entry **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (size_t i = 0; i < nbuckets; i++) {
		struct entry *e = buckets[i];
		while (e) {
			struct entry *next = e->next;
			size_t b = e->hash & (n - 1);
			e->next = nb[b];
			nb[b] = e;
			e = next;
		}
	}
	free(buckets);
	buckets = nb;
	nbuckets = n;
}

static struct entry *find_locked(const char *key, size_t len, uint64_t h)
{
	if (!nbuckets)
		return NULL;
	for (struct entry *e = buckets[h & (nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

uint64_t stats_count(const char *target, size_t len)
{
	uint64_t h = hash_key(target, len);
	pthread_mutex_lock(&lock);
	uint64_t n = ++total;
	struct entry *e = find_locked(target, len, h);
	if (e) {
		e->count++;
	} else if (nbuckets && nkeys < STATS_MAX_KEYS) {
		e = malloc(sizeof(*e) + len);
		if (e) {
			e->hash = h;
			e->count = 1;
			e->len = len;
			memcpy(e->key, target, len);
			if (nkeys >= nbuckets)
				grow_locked();
			size_t b = h & (nbuckets - 1);
			e->next = buckets[b];
			buckets[b] = e;
			nkeys++;
		}
	}
	pthread_mutex_unlock(&lock);
	return n;
}

uint64_t stats_total(void)
{
	pthread_mutex_lock(&lock);
	uint64_t n = total;
	pthread_mutex_unlock(&lock);
	return n;
}

uint64_t stats_get(const char *target, size_t len)
{
	uint64_t h = hash_key(target, len);
	pthread_mutex_lock(&lock);
	struct entry *e = find_locked(target, len, h);
	uint64_t n = e ? e->count : 0;
	pthread_mutex_unlock(&lock);
	return n;
}

void stats_count_upgrade(void)
{
	pthread_mutex_lock(&lock);
	upgrades++;
	pthread_mutex_unlock(&lock);
}

uint64_t stats_upgrades(void)
{
	pthread_mutex_lock(&lock);
	uint64_t n = upgrades;
	pthread_mutex_unlock(&lock);
	return n;
}

void stats_reset(void)
{
	pthread_mutex_lock(&lock);
	clear_locked();
	pthread_mutex_unlock(&lock);
}
