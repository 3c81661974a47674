/* Format detection for list files: which of the formats of listfile.h a text is, guessed from
 * its first meaningful lines. Pure and allocation-free; used by mw_listfile_parse_buf() when
 * the caller asks for MW_LISTFILE_FMT_AUTO. */
#pragma once

#include <stddef.h>

#include "minewall/listfile.h"

/* Guess the format from the first meaningful lines of buf (at most 500 non-blank lines; a
 * UTF-8 BOM is skipped). Strong markers decide at once ("[Adblock", "$ORIGIN"/"$TTL");
 * otherwise each line votes. A file of addresses that also holds names is plain. Never returns
 * MW_LISTFILE_FMT_AUTO; an empty buffer (or NULL) is plain. */
enum mw_listfile_format mw_listdetect_format(const char *buf, size_t len);
