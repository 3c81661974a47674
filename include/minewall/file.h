/* The one whole-file reader: config files, list files, resolv.conf and hosts snapshots are
 * read into memory whole by mw_file_read, with one bound and one set of errors. Blocking
 * (open/read): call it at start-up, on the reload path or on a worker thread, never on an
 * event loop that serves queries. */
#pragma once

#include <stddef.h>

/* Read path into a new buffer (*out, owned by the caller, free()) of *len bytes followed by a
 * NUL that is not counted, so text parsers may treat it as a C string (the file itself may
 * contain NULs). Regular files are read in one read when they do not grow; pipes and other
 * files in growing steps. Returns 0, -EFBIG when the file has more than max bytes, -EISDIR for
 * a directory, -ENOMEM, or the negative errno of open(2)/read(2) (*out is then NULL). */
int mw_file_read(const char *path, size_t max, char **out, size_t *len);

/* Open a data log (block log, journal, query log) for appending: created with mode 0640 when
 * missing, close-on-exec. Returns the descriptor or a negative errno. */
int mw_file_open_log(const char *path);
