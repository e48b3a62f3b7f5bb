/* options.c - the values of shmfs's own mount options, parsed by hand:
 * strtod() and strtoull() accept blanks, signs, hex, exponents, "inf" and
 * "nan", none of which a mount option should mean. */
#include <stdint.h>

#include "options.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool options_parse_seconds(const char *s, double max, double *out)
{
	unsigned long long whole = 0, frac = 0, scale = 1;

	if (!is_digit(*s))
		return false;
	for (; is_digit(*s); s++) {
		whole = whole * 10 + (unsigned long long)(*s - '0');
		if (whole > 1000000000ULL)
			return false;
	}
	if (*s == '.') {
		s++;
		if (!is_digit(*s))
			return false;
		/* Milliseconds are the finest unit anything uses. */
		for (; is_digit(*s); s++) {
			if (scale < 1000) {
				frac = frac * 10 + (unsigned long long)(*s - '0');
				scale *= 10;
			}
		}
	}
	if (*s != '\0')
		return false;
	double v = (double)whole + (double)frac / (double)scale;
	if (v > max)
		return false;
	*out = v;
	return true;
}

bool options_parse_size(const char *s, size_t *out)
{
	uint64_t v = 0;
	unsigned int shift = 0;

	if (!is_digit(*s))
		return false;
	for (; is_digit(*s); s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	switch (*s) {
	case 'k':
	case 'K':
		shift = 10;
		s++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		s++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		s++;
		break;
	}
	if (*s != '\0' || v == 0 || v > (SIZE_MAX >> shift))
		return false;
	*out = (size_t)(v << shift);
	return true;
}
