/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file_crash.h — the crash recorder's hooks, called by file.c only (the
 * test-facing calls are in file.h). Each hook is called only while
 * file_crash_recording() is true, so a store that never records pays one
 * relaxed atomic load per changing call.
 */
#ifndef ND_FILE_CRASH_H
#define ND_FILE_CRASH_H

#include <stddef.h>
#include <sys/types.h>

int file_crash_recording(void);
/* 0, or EIO when the simulated machine has stopped: the call must then
 * change nothing. Counts the call toward file_crash_freeze_after. */
int crash_gate(void);
/* Before a change to fd's data: note what undoes it. */
void crash_note_write(int fd, off_t off, size_t len);
void crash_note_truncate(int fd, off_t len);
void crash_note_map(int fd, size_t len);
/* After a name appeared: a new file or directory. */
void crash_note_create(const char *path);
void crash_note_mkdir(const char *path);
void crash_note_link(const char *to);
/* Perform the change while noting it (backups need to be taken first). */
int crash_do_rename(const char *from, const char *to);
int crash_do_unlink(const char *path);
int crash_do_remove_tree(const char *path);
/* After a successful sync of fd (a file or a directory), or of all. */
void crash_note_sync(int fd);
void crash_note_syncfs(void);

#endif
