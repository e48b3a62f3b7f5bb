/* fuzz_names.c - libFuzzer target for the name grammar (src/names.c).
 *
 * Properties, beyond "no crash, no undefined behaviour":
 *   - a name that parses is the canonical name of what it parsed to:
 *     formatting the result gives the very same name back, so every
 *     segment has exactly one name of each kind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "names.h"
#include "fuzz_check.h"

static void check_root(const char *name)
{
	char back[64];
	int shmid = -1;
	enum name_kind kind = names_parse_root(name, &shmid);

	if (kind == NAME_NONE)
		return;
	CHECK(kind == NAME_SEGMENT || kind == NAME_SIDECAR || kind == NAME_NEXT ||
	      kind == NAME_PROCS);
	CHECK(shmid >= 0);
	CHECK(names_format_root(back, sizeof(back), kind, shmid) > 0);
	CHECK(strcmp(back, name) == 0);
}

static void check_bykey(const char *name)
{
	char back[64];
	int32_t key = 0, key2 = 0;
	bool is_key = names_parse_key(name, &key);
	enum name_kind kind = names_parse_bykey(name, &key2);

	CHECK(is_key == (kind == NAME_KEYLINK));
	if (kind == NAME_NONE)
		return;
	CHECK(kind == NAME_KEYLINK || kind == NAME_NEXTLINK);
	if (is_key)
		CHECK(key == key2);
	CHECK(names_format_key(back, sizeof(back), key2) == 10);
	if (kind == NAME_NEXTLINK)
		strcat(back, NAMES_NEXT_SUFFIX);
	/* the hex digits may come in either case */
	CHECK(strcasecmp(back, name) == 0);
	CHECK(strncmp(name, "0x", 2) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = malloc(size + 1);

	if (!name)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	check_root(name);
	check_bykey(name);
	free(name);
	return 0;
}
