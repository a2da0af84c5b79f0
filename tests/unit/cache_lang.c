/* Unit tests of src/cache/lang.c: Accept-Language weights (RFC 9110
 * 12.4.2, 12.5.4) and basic filtering (RFC 4647 3.3.1). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache/lang.h"

/* P from one field line V; the result of lang_prefs_add. */
static int prefs(struct lang_prefs *p, const char *v)
{
	lang_prefs_init(p);
	return lang_prefs_add(p, v, strlen(v));
}

static unsigned weight(const char *al, const char *tag)
{
	struct lang_prefs p;
	cr_assert_eq(prefs(&p, al), 0, "'%s' refused", al);
	return lang_weight(&p, tag, strlen(tag));
}

static bool best(const char *al, const char *tag)
{
	struct lang_prefs p;
	cr_assert_eq(prefs(&p, al), 0, "'%s' refused", al);
	return lang_is_best(&p, tag, strlen(tag));
}

Test(cache_lang, weights_parsed)
{
	static const struct {
		const char *in;
		unsigned q;
	} t[] = {
	    {"de", 1000},	    {"de;q=1", 1000},	 {"de;q=1.", 1000},   {"de;q=1.000", 1000},
	    {"de;q=0.5", 500},	    {"de;q=0.05", 50},	 {"de;q=0.005", 5},   {"de;q=0", 0},
	    {"de;q=0.", 0},	    {"de;q=0.000", 0},	 {"de ; q=0.7", 700}, {"de;Q=0.7", 700},
	    {"de\t;\tq=0.25", 250}, {" de;q=0.9 ", 900},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct lang_prefs p;
		cr_assert_eq(prefs(&p, t[i].in), 0, "'%s' refused", t[i].in);
		cr_assert_eq(p.n, 1, "'%s'", t[i].in);
		cr_expect_eq(p.r[0].q, t[i].q, "'%s': q %u", t[i].in, p.r[0].q);
		cr_expect_eq(p.qmax, t[i].q, "'%s': qmax %u", t[i].in, p.qmax);
	}
}

/* Anything outside the grammar makes the field unusable, never a guess. */
Test(cache_lang, invalid_fields_refused)
{
	static const char *const bad[] = {
	    "de;q=1.5", "de;q=2",	"de;q=-0.5", "de;q=0.1234", "de;q=.5",	  "de;q=1.001",
	    "de;q=",	"de;q",		"de;q=0.5x", "de;q=01",	    "de;level=1", "de;q=0.5;x",
	    "de q=0.5", "de;",		"d e",	     "toolonglang", "de-",	  "-de",
	    "de--ch",	"de-abcdefghi", "1de",	     "*-ch",	    "de_CH",	  "de;q=0.5 x",
	    "\"de\"",	"en, de;q=abc", "d\xe9",     "[de]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lang_prefs p;
		cr_expect_eq(prefs(&p, bad[i]), -EINVAL, "'%s' accepted", bad[i]);
	}
}

Test(cache_lang, list_members_and_lines)
{
	struct lang_prefs p;
	cr_assert_eq(prefs(&p, " , en-US ,, fr;q=0.5,"), 0);
	cr_assert_eq(p.n, 2);
	cr_expect_eq(p.r[0].len, 5);
	cr_expect_eq(memcmp(p.r[0].p, "en-US", 5), 0);
	cr_expect_eq(p.r[1].q, 500);
	/* A second field line adds to the list. */
	cr_assert_eq(lang_prefs_add(&p, "de;q=0.7", 8), 0);
	cr_expect_eq(p.n, 3);
	cr_expect_eq(p.qmax, 1000);
	cr_assert_eq(prefs(&p, ""), 0);
	cr_expect_eq(p.n, 0);
	cr_expect_eq(p.qmax, 0);
}

/* A range twice with one weight is harmless; with two it is ambiguous. */
Test(cache_lang, duplicates)
{
	struct lang_prefs p;
	cr_assert_eq(prefs(&p, "de, DE, de;q=1.0"), 0);
	cr_expect_eq(p.n, 1);
	cr_expect_eq(prefs(&p, "de, de;q=0.5"), -EINVAL);
	cr_expect_eq(prefs(&p, "de;q=0.5, De;q=0.7"), -EINVAL);
	/* de and de-ch are different ranges, not duplicates. */
	cr_assert_eq(prefs(&p, "de, de-ch;q=0.5"), 0);
	cr_expect_eq(p.n, 2);
}

Test(cache_lang, too_many_ranges)
{
	char v[512] = "";
	for (int i = 0; i < LANG_RANGES_MAX; i++)
		snprintf(v + strlen(v), sizeof(v) - strlen(v), "%sx%c%c", i ? "," : "",
			 'a' + i / 26, 'a' + i % 26);
	struct lang_prefs p;
	cr_expect_eq(prefs(&p, v), 0);
	strcat(v, ",zz");
	cr_expect_eq(prefs(&p, v), -EINVAL);
}

Test(cache_lang, basic_filtering_prefixes_and_case)
{
	cr_expect_eq(weight("de;q=0.5", "de"), 500);
	cr_expect_eq(weight("de;q=0.5", "DE"), 500);
	cr_expect_eq(weight("DE-ch;q=0.5", "de-CH"), 500);
	/* A range matches longer tags at a "-" boundary only. */
	cr_expect_eq(weight("de;q=0.5", "de-CH"), 500);
	cr_expect_eq(weight("de;q=0.5", "de-CH-1996"), 500);
	cr_expect_eq(weight("de;q=0.5", "deu"), 0);
	cr_expect_eq(weight("de-ch", "de"), 0, "a longer range does not match a shorter tag");
	cr_expect_eq(weight("en", "de"), 0);
	/* The longest matching range decides, whatever the order. */
	cr_expect_eq(weight("de;q=0.2, de-ch;q=0.8", "de-CH"), 800);
	cr_expect_eq(weight("de-ch;q=0.8, de;q=0.2", "de-CH-x"), 800);
	cr_expect_eq(weight("de-ch;q=0.8, de;q=0.2", "de-AT"), 200);
}

Test(cache_lang, star_and_zero)
{
	cr_expect_eq(weight("*", "fr"), 1000);
	cr_expect_eq(weight("*;q=0.1, de", "fr"), 100);
	cr_expect_eq(weight("*;q=0.1, de", "de"), 1000, "a named range beats *");
	cr_expect_eq(weight("de;q=0, *", "de"), 0, "q=0 excludes");
	cr_expect_eq(weight("de;q=0, *", "de-CH"), 0, "also what it prefixes");
	cr_expect_eq(weight("de;q=0, *", "fr"), 1000);
	cr_expect_eq(weight("de-ch;q=0, de", "de"), 1000);
}

Test(cache_lang, best_choice)
{
	/* The suite's case, and the same set in other orders and spellings. */
	cr_expect(best("fr;q=0.5, de;q=1.0", "de"));
	cr_expect(best("en;q=0.9, de", "de"));
	cr_expect(best("de, en;q=0.9", "de"));
	cr_expect(best("DE , EN;q=0.9", "de"));
	/* Equally preferred languages are each a best choice. */
	cr_expect(best("de, fr", "de"));
	cr_expect(best("de, fr", "fr"));
	/* Accepted, but not preferred: the origin may have the better one. */
	cr_expect_not(best("fr, de;q=0.5", "de"));
	cr_expect_not(best("fr", "de"));
	cr_expect_not(best("de-ch, de;q=0.9", "de"));
	cr_expect(best("de", "de-CH"));
	cr_expect(best("*", "de"));
	cr_expect_not(best("fr, *;q=0.5", "de"));
	/* Excluded, or nothing acceptable at all. */
	cr_expect_not(best("de;q=0", "de"));
	cr_expect_not(best("de;q=0, fr;q=0", "de"));
	cr_expect_not(best("", "de"));
}

Test(cache_lang, tags)
{
	cr_expect(lang_tag_valid("de", 2));
	cr_expect(lang_tag_valid("zh-Hant-TW", 10));
	cr_expect(lang_tag_valid("de-CH-1996", 10));
	cr_expect(lang_tag_valid("x-klingon", 9));
	cr_expect_not(lang_tag_valid("", 0));
	cr_expect_not(lang_tag_valid("de, en", 6), "a list is not one tag");
	cr_expect_not(lang_tag_valid("*", 1));
	cr_expect_not(lang_tag_valid("de-", 3));
	cr_expect_not(lang_tag_valid("abcdefghi", 9));
	cr_expect_not(lang_tag_valid("12", 2));
}
