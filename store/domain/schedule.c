// SPDX-License-Identifier: MIT
/*
 * Schedules and times for lifecycle policies: parsing the schedule forms
 * (all reduced to cron-style field sets, or to a fixed interval), finding
 * the slot before or after a time, and parsing ages and UTC timestamps.
 * Slots are searched day by day rather than minute by minute, so that a
 * rare schedule (one day a year) costs a few hundred steps, not 500,000.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "snapfs/parse.h"
#include "snapfs/policy.h"

#define DAY 86400
#define SEARCH_DAYS (5 * 366)

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t len, const char *fmt,
						      ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
					   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const day_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

/* A number or (for months and weekdays) a three-letter name. */
static int field_value(const char **p, const char *const *names, int n_names, int base,
		       long *ret)
{
	uint64_t v;

	if (names && isalpha((unsigned char)**p)) {
		for (int i = 0; i < n_names; i++) {
			if (!strncasecmp(*p, names[i], 3)) {
				*ret = base + i;
				*p += 3;
				return 0;
			}
		}
		return -EINVAL;
	}
	/* Every field is at most 59; a longer number is out of range, not
	 * something to squeeze into a long. */
	if (sfs_parse_u64(*p, p, &v) < 0 || v > 1000)
		return -EINVAL;
	*ret = (long)v;
	return 0;
}

/*
 * One cron field ("*", "a", "a-b", any of them with "/step", comma
 * separated) into a bit set over lo..hi.
 */
static int parse_field(const char *text, int lo, int hi, const char *const *names, int n_names,
		       uint64_t *ret, bool *ret_any)
{
	const char *p = text;
	uint64_t bits = 0;
	bool any = false;

	for (;;) {
		long a, b, step = 1;

		if (*p == '*') {
			a = lo;
			b = hi;
			p++;
			any = true;
		} else {
			if (field_value(&p, names, n_names, lo, &a) < 0)
				return -EINVAL;
			b = a;
			if (*p == '-') {
				p++;
				if (field_value(&p, names, n_names, lo, &b) < 0)
					return -EINVAL;
			}
		}
		if (*p == '/') {
			uint64_t v;

			/* A step past the field's top fires once, at the start;
			 * refusing it keeps v += step below from overflowing. */
			if (sfs_parse_u64(p + 1, &p, &v) < 0 || v < 1 || v > (uint64_t)hi)
				return -EINVAL;
			step = (long)v;
			if (a == b && !any)
				b = hi; /* "5/15": from 5 on */
			any = false;
		}
		if (a < lo || b > hi || a > b)
			return -EINVAL;
		for (long v = a; v <= b; v += step)
			bits |= UINT64_C(1) << v;
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
		any = false;
	}
	*ret = bits;
	if (ret_any)
		*ret_any = any && !strchr(text, ',');
	return 0;
}

/* Weekday 7 is Sunday, as in cron. */
static uint8_t fold_sunday(uint64_t bits)
{
	return (uint8_t)((bits & 0x7f) | ((bits >> 7) & 1));
}

/* Exactly n decimal digits at p (no sign, no blank), as a number. */
static int fixed_digits(const char *p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* "HH:MM", both two digits: sscanf's %2d took "-0:05" and " 5:07". */
static int parse_hhmm(const char *text, int *h, int *m)
{
	if (strlen(text) != 5 || text[2] != ':')
		return -EINVAL;
	*h = fixed_digits(text, 2);
	*m = fixed_digits(text + 3, 2);
	if (*h < 0 || *h > 23 || *m < 0 || *m > 59)
		return -EINVAL;
	return 0;
}

static void cron_at(struct sfs_sched *s, int h, int m)
{
	memset(s, 0, sizeof(*s));
	s->kind = SFS_SCHED_CRON;
	s->minutes = UINT64_C(1) << m;
	s->hours = UINT32_C(1) << h;
	s->mdays = 0xfffffffeu;
	s->months = 0x1ffe;
	s->wdays = 0x7f;
	s->mday_any = s->wday_any = true;
}

static int parse_cron(char **f, struct sfs_sched *s, char *err, size_t len)
{
	uint64_t v;

	memset(s, 0, sizeof(*s));
	s->kind = SFS_SCHED_CRON;
	if (parse_field(f[0], 0, 59, NULL, 0, &s->minutes, NULL) < 0)
		return fail(err, len, "bad minute field '%s' (0-59)", f[0]);
	if (parse_field(f[1], 0, 23, NULL, 0, &v, NULL) < 0)
		return fail(err, len, "bad hour field '%s' (0-23)", f[1]);
	s->hours = (uint32_t)v;
	if (parse_field(f[2], 1, 31, NULL, 0, &v, &s->mday_any) < 0)
		return fail(err, len, "bad day-of-month field '%s' (1-31)", f[2]);
	s->mdays = (uint32_t)v;
	if (parse_field(f[3], 1, 12, month_names, 12, &v, NULL) < 0)
		return fail(err, len, "bad month field '%s' (1-12 or JAN-DEC)", f[3]);
	s->months = (uint16_t)v;
	if (parse_field(f[4], 0, 7, day_names, 7, &v, &s->wday_any) < 0)
		return fail(err, len, "bad day-of-week field '%s' (0-7 or SUN-SAT)", f[4]);
	s->wdays = fold_sunday(v);
	if (sfs_sched_next(s, 0) < 0 && sfs_sched_next(s, 1700000000) < 0)
		return fail(err, len, "the cron expression never fires");
	return 0;
}

int sfs_sched_parse(const char *text, struct sfs_sched *ret, char *err, size_t errlen)
{
	char buf[SFS_SCHED_TEXT_MAX], *f[6], *save = NULL;
	int n = 0, h, m, r;

	if (!text || strlen(text) >= sizeof(buf) || !*text)
		return fail(err, errlen, "empty or overlong schedule");
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 6)
			return fail(err, errlen, "too many fields in schedule '%s'", text);
		f[n++] = t;
	}
	if (n == 1 && !strcasecmp(f[0], "hourly")) {
		cron_at(ret, 0, 0);
		ret->hours = 0xffffff;
		return 0;
	}
	if (n == 2 && !strcasecmp(f[0], "every")) {
		const char *end;
		uint64_t v;

		if (sfs_parse_u64(f[1], &end, &v) < 0 || v < 1 ||
		    (strcasecmp(end, "h") && strcasecmp(end, "m")))
			return fail(err, errlen, "bad interval '%s': use Nh (1-24) or Nm (1-1440)",
				    f[1]);
		if (tolower((unsigned char)*end) == 'h' ? v > 24 : v > 1440)
			return fail(err, errlen, "interval '%s' is longer than a day; use daily, "
						 "weekly or monthly",
				    f[1]);
		memset(ret, 0, sizeof(*ret));
		ret->kind = SFS_SCHED_INTERVAL;
		ret->interval = (int64_t)v * (tolower((unsigned char)*end) == 'h' ? 3600 : 60);
		return 0;
	}
	if (n == 2 && !strcasecmp(f[0], "daily")) {
		if (parse_hhmm(f[1], &h, &m) < 0)
			return fail(err, errlen, "bad time '%s': use HH:MM (UTC)", f[1]);
		cron_at(ret, h, m);
		return 0;
	}
	if (n == 3 && !strcasecmp(f[0], "weekly")) {
		uint64_t days;

		if (strchr(f[1], '*') || strchr(f[1], '/') ||
		    parse_field(f[1], 0, 7, day_names, 7, &days, NULL) < 0)
			return fail(err, errlen, "bad weekday '%s': use MON..SUN, comma separated",
				    f[1]);
		if (parse_hhmm(f[2], &h, &m) < 0)
			return fail(err, errlen, "bad time '%s': use HH:MM (UTC)", f[2]);
		cron_at(ret, h, m);
		ret->wdays = fold_sunday(days);
		ret->wday_any = false;
		return 0;
	}
	if (n == 3 && !strcasecmp(f[0], "monthly")) {
		uint64_t d;

		if (sfs_parse_uint(f[1], 1, 28, &d) < 0)
			return fail(err, errlen, "bad day of month '%s': 1 to 28", f[1]);
		if (parse_hhmm(f[2], &h, &m) < 0)
			return fail(err, errlen, "bad time '%s': use HH:MM (UTC)", f[2]);
		cron_at(ret, h, m);
		ret->mdays = UINT32_C(1) << d;
		ret->mday_any = false;
		return 0;
	}
	if (n == 5) {
		r = parse_cron(f, ret, err, errlen);
		return r;
	}
	return fail(err, errlen,
		    "unknown schedule '%s': use hourly, every Nh, every Nm, daily HH:MM, weekly "
		    "DAY HH:MM, monthly D HH:MM or a 5-field cron expression",
		    text);
}

/* Whether the day of tm (mday, mon, wday set) is one the schedule fires on. */
static bool day_matches(const struct sfs_sched *s, const struct tm *tm)
{
	bool md = s->mdays & (UINT32_C(1) << tm->tm_mday);
	bool wd = s->wdays & (1u << tm->tm_wday);

	if (!(s->months & (1u << (tm->tm_mon + 1))))
		return false;
	/* cron: when both day fields are restricted, either one will do. */
	if (!s->mday_any && !s->wday_any)
		return md || wd;
	return md && wd;
}

/* Latest (h, m) in the sets with h*60+m <= limit; false if none. */
static bool latest_in_day(const struct sfs_sched *s, int limit, int *rh, int *rm)
{
	for (int t = limit; t >= 0; t--) {
		int h = t / 60, m = t % 60;
		if (!(s->hours & (UINT32_C(1) << h))) {
			t = h * 60; /* skip the rest of this hour */
			continue;
		}
		if (s->minutes & (UINT64_C(1) << m)) {
			*rh = h;
			*rm = m;
			return true;
		}
	}
	return false;
}

static bool earliest_in_day(const struct sfs_sched *s, int from, int *rh, int *rm)
{
	for (int t = from; t < 24 * 60; t++) {
		int h = t / 60, m = t % 60;
		if (!(s->hours & (UINT32_C(1) << h))) {
			t = h * 60 + 59;
			continue;
		}
		if (s->minutes & (UINT64_C(1) << m)) {
			*rh = h;
			*rm = m;
			return true;
		}
	}
	return false;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int64_t sfs_sched_prev(const struct sfs_sched *s, int64_t t)
{
	int64_t day;
	int limit;

	if (s->kind == SFS_SCHED_INTERVAL)
		return floor_div(t, s->interval) * s->interval;
	day = floor_div(t, DAY) * DAY;
	limit = (int)((t - day) / 60);
	for (int i = 0; i < SEARCH_DAYS; i++, day -= DAY, limit = 24 * 60 - 1) {
		time_t tt = (time_t)day;
		struct tm tm;
		int h, m;

		gmtime_r(&tt, &tm);
		if (day_matches(s, &tm) && latest_in_day(s, limit, &h, &m))
			return day + h * 3600 + m * 60;
	}
	return -1;
}

int64_t sfs_sched_next(const struct sfs_sched *s, int64_t t)
{
	int64_t day;
	int from;

	if (s->kind == SFS_SCHED_INTERVAL)
		return (floor_div(t, s->interval) + 1) * s->interval;
	day = floor_div(t, DAY) * DAY;
	from = (int)((t - day) / 60) + 1; /* strictly after t */
	for (int i = 0; i < SEARCH_DAYS; i++, day += DAY, from = 0) {
		time_t tt = (time_t)day;
		struct tm tm;
		int h, m;

		gmtime_r(&tt, &tm);
		if (day_matches(s, &tm) && earliest_in_day(s, from, &h, &m))
			return day + h * 3600 + m * 60;
	}
	return -1;
}

int64_t sfs_sched_due(const struct sfs_sched *s, int64_t last_run, int64_t now)
{
	int64_t slot = sfs_sched_prev(s, now);

	return slot >= 0 && slot > last_run ? slot : -1;
}

int sfs_age_parse(const char *text, int64_t *ret)
{
	uint64_t v;

	if (sfs_parse_duration(text, 100ull * 366 * DAY, &v) < 0 || v < 3600)
		return -EINVAL;
	*ret = (int64_t)v;
	return 0;
}

int sfs_time_parse(const char *text, int64_t *ret)
{
	return sfs_parse_time(text, false, ret);
}
