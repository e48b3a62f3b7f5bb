/* table.c - the one table shmfs-bench prints: rows collected, printed at the end. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define TABLE_MAX_ROWS 128

struct table_line {
	bool is_section;
	char label[128];
	char unit[64];
	double shmfs;
	int nbase;
	struct {
		char name[24];
		double value;
	} base[TABLE_MAX_BASE];
	char text[128];
};

static struct table_line lines[TABLE_MAX_ROWS];
static int nlines;

#define TABLE_MAX_GOALS 24

struct goal {
	char figure[96];
	char baseline[48];
	double ratio;
	char op;
	double target;
	char text[96]; /* instead of the ratio, if set */
};

static struct goal goals[TABLE_MAX_GOALS];
static int ngoals;

static struct table_line *next_line(void)
{
	if (nlines == TABLE_MAX_ROWS)
		die("too many table rows");
	memset(&lines[nlines], 0, sizeof(lines[nlines]));
	return &lines[nlines++];
}

void table_section(const char *title, const char *unit)
{
	struct table_line *l = next_line();

	l->is_section = true;
	snprintf(l->label, sizeof(l->label), "%s", title);
	snprintf(l->unit, sizeof(l->unit), "%s", unit);
}

void table_row(const char *label, double shmfs, int nbase, ...)
{
	struct table_line *l = next_line();
	va_list ap;

	snprintf(l->label, sizeof(l->label), "%s", label);
	l->shmfs = shmfs;
	l->nbase = nbase < TABLE_MAX_BASE ? nbase : TABLE_MAX_BASE;
	va_start(ap, nbase);
	for (int i = 0; i < nbase; i++) {
		const char *name = va_arg(ap, const char *);
		double value = va_arg(ap, double);

		if (i < TABLE_MAX_BASE) {
			snprintf(l->base[i].name, sizeof(l->base[i].name), "%s", name);
			l->base[i].value = value;
		}
	}
	va_end(ap);
}

void table_text(const char *label, double shmfs, const char *fmt, ...)
{
	struct table_line *l = next_line();
	va_list ap;

	snprintf(l->label, sizeof(l->label), "%s", label);
	l->shmfs = shmfs;
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
}

static struct goal *next_goal(const char *figure)
{
	struct goal *g;

	if (ngoals == TABLE_MAX_GOALS)
		die("too many goals");
	g = &goals[ngoals++];
	memset(g, 0, sizeof(*g));
	snprintf(g->figure, sizeof(g->figure), "%s", figure);
	return g;
}

void table_goal(const char *figure, double ratio, const char *baseline, char op, double target)
{
	struct goal *g = next_goal(figure);

	snprintf(g->baseline, sizeof(g->baseline), "%s", baseline);
	g->ratio = ratio;
	g->op = op;
	g->target = target;
}

void table_goal_note(const char *figure, const char *text)
{
	snprintf(next_goal(figure)->text, sizeof(goals[0].text), "%s", text);
}

static void goals_print(void)
{
	if (!ngoals)
		return;
	printf("\nissue 22: each figure as a ratio to its baseline of this run (rates: shmfs /"
	       " baseline;\ntimes: shmfs / baseline), and its target\n");
	printf("  %-64s %-22s %7s  %-8s %s\n", "figure", "baseline", "ratio", "target", "");
	for (int i = 0; i < ngoals; i++) {
		const struct goal *g = &goals[i];
		char ratio[16] = "-", target[16] = "", verdict[16] = "";

		if (g->text[0]) {
			printf("  %-64s %s\n", g->figure, g->text);
			continue;
		}
		if (g->ratio >= 0)
			snprintf(ratio, sizeof(ratio), "%.2fx", g->ratio);
		if (g->op) {
			snprintf(target, sizeof(target), "%s %.2fx",
				 g->op == '>' ? ">=" : "<=", g->target);
			if (g->ratio >= 0)
				snprintf(verdict, sizeof(verdict), "%s",
					 (g->op == '>' ? g->ratio >= g->target
						       : g->ratio <= g->target)
						 ? "met"
						 : "NOT met");
		}
		printf("  %-64s %-22s %7s  %-8s %s\n", g->figure, g->baseline, ratio, target,
		       verdict);
	}
}

static const char *fmt_value(double v, char *buf, size_t size)
{
	if (v < 0)
		snprintf(buf, size, "-");
	else if (v >= 1000)
		snprintf(buf, size, "%.0f", v);
	else if (v >= 100)
		snprintf(buf, size, "%.1f", v);
	else if (v >= 1)
		snprintf(buf, size, "%.2f", v);
	else
		snprintf(buf, size, "%.3f", v);
	return buf;
}

static const char *fmt_ratio(double shmfs, double base, char *buf, size_t size)
{
	double r;

	if (shmfs < 0 || base <= 0) {
		buf[0] = '\0';
		return buf;
	}
	r = shmfs / base;
	if (r >= 100)
		snprintf(buf, size, "(%.0fx)", r);
	else if (r >= 10)
		snprintf(buf, size, "(%.1fx)", r);
	else
		snprintf(buf, size, "(%.2fx)", r);
	return buf;
}

void table_print(void)
{
	char v[32], b[32], r[32], line[512];

	printf("%-40s %9s   %s\n", "", "shmfs", "baselines: name value (shmfs/baseline)");
	for (int i = 0; i < nlines; i++) {
		struct table_line *l = &lines[i];
		size_t n;

		if (l->is_section) {
			printf("%s%s [%s]\n", i ? "\n" : "", l->label, l->unit);
			continue;
		}
		n = snprintf(line, sizeof(line), "  %-38s %9s", l->label,
			     fmt_value(l->shmfs, v, sizeof(v)));
		if (l->text[0] && n < sizeof(line))
			n += snprintf(line + n, sizeof(line) - n, "   %s", l->text);
		for (int j = 0; j < l->nbase && n < sizeof(line); j++)
			n += snprintf(line + n, sizeof(line) - n, "   %-9s %7s %-8s",
				      l->base[j].name, fmt_value(l->base[j].value, b, sizeof(b)),
				      fmt_ratio(l->shmfs, l->base[j].value, r, sizeof(r)));
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		while (n > 0 && line[n - 1] == ' ')
			n--;
		line[n] = '\0';
		printf("%s\n", line);
	}
	goals_print();
	fflush(stdout);
}
