#!/bin/sh
# scdoc.sh SCDOC VERSION INPUT OUTPUT: the man page OUTPUT from its scdoc(5)
# source INPUT, with @VERSION@ replaced by VERSION.
# scdoc's own .nh comes before .TH, which turns hyphenation on again: it is
# repeated after .TH, so that no errno or option name is ever split.
set -eu
sed "s/@VERSION@/$2/" "$3" | "$1" >"$4.tmp"
sed '/^\.TH /a .nh' "$4.tmp" >"$4"
rm -f "$4.tmp"
