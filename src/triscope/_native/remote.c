/* SPDX-License-Identifier: MIT
 *
 * remote.c — see remote.h. Plain C, no Python API: reads /proc/PID/maps, the ELF files it
 * names (from disk, never the target's memory) and the target's memory through
 * process_vm_readv, which copies pages without stopping the target and fails with EFAULT
 * instead of crashing when an address is not mapped.
 *
 * An exported symbol's address in the target is its value in the ELF file plus the load
 * bias: where the object's first page is mapped minus the address the file asked for it
 * (0 for a position-dependent executable, whose addresses are absolute).
 */
#define _GNU_SOURCE
#include "remote.h"

#include "textscan.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* Dynamic symbol tables larger than this are not a Python we know. */
#define TS_REMOTE_MAX_TABLE ((size_t)64 << 20)

int ts_remote_read(pid_t pid, uint64_t address, void *buffer, size_t size)
{
    struct iovec local = {buffer, size};
    struct iovec remote = {(void *)(uintptr_t)address, size};
    ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (got == (ssize_t)size)
        return 0;
    if (got >= 0)
        errno = EFAULT;
    return -1;
}

static int read_exactly(int fd, void *buffer, size_t size, uint64_t offset)
{
    char *at = buffer;
    while (size > 0) {
        ssize_t got = pread(fd, at, size, (off_t)offset);
        if (got <= 0)
            return -1;
        at += got;
        size -= (size_t)got;
        offset += (uint64_t)got;
    }
    return 0;
}

/* A whole section of the file, malloc'ed; NULL when it cannot be read or is too big. */
static void *read_section(int fd, const Elf64_Shdr *section)
{
    if (section->sh_size == 0 || section->sh_size > TS_REMOTE_MAX_TABLE)
        return NULL;
    void *data = malloc(section->sh_size);
    if (data != NULL && read_exactly(fd, data, section->sh_size, section->sh_offset) < 0) {
        free(data);
        return NULL;
    }
    return data;
}

/* Looks `names` up in the ELF file at `path`, loaded at `base` (where its file offset 0 is
 * mapped). Returns whether names[0] is there; fills `addresses`. */
static int lookup_in_object(const char *path, uint64_t base, const char *const *names,
                            uint64_t *addresses, int count)
{
    int found = 0;
    Elf64_Shdr *sections = NULL;
    Elf64_Sym *symbols = NULL;
    char *strings = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf64_Ehdr header;
    if (read_exactly(fd, &header, sizeof header, 0) < 0 ||
        memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
        header.e_shentsize != sizeof(Elf64_Shdr) || header.e_phentsize != sizeof(Elf64_Phdr) ||
        header.e_shnum == 0)
        goto done;
    /* The bias: the first loadable segment that starts at file offset 0 says which address
     * the file meant for its first page. */
    uint64_t bias = 0;
    if (header.e_type == ET_DYN) {
        for (int i = 0; i < header.e_phnum; i++) {
            Elf64_Phdr segment;
            if (read_exactly(fd, &segment, sizeof segment,
                             header.e_phoff + (uint64_t)i * sizeof segment) < 0)
                goto done;
            if (segment.p_type == PT_LOAD && segment.p_offset == 0) {
                bias = base - segment.p_vaddr;
                break;
            }
        }
    }
    size_t table_size = (size_t)header.e_shnum * sizeof *sections;
    sections = malloc(table_size);
    if (sections == NULL || read_exactly(fd, sections, table_size, header.e_shoff) < 0)
        goto done;
    for (int i = 0; i < header.e_shnum && !found; i++) {
        if (sections[i].sh_type != SHT_DYNSYM || sections[i].sh_link >= header.e_shnum ||
            sections[i].sh_entsize != sizeof *symbols)
            continue;
        const Elf64_Shdr *names_section = &sections[sections[i].sh_link];
        symbols = read_section(fd, &sections[i]);
        strings = read_section(fd, names_section);
        if (symbols == NULL || strings == NULL)
            goto done;
        size_t nsymbols = sections[i].sh_size / sizeof *symbols;
        for (int n = 0; n < count; n++)
            addresses[n] = 0;
        for (size_t s = 0; s < nsymbols; s++) {
            if (symbols[s].st_name >= names_section->sh_size || symbols[s].st_shndx == SHN_UNDEF)
                continue;
            const char *name = strings + symbols[s].st_name;
            if (memchr(name, '\0', names_section->sh_size - symbols[s].st_name) == NULL)
                continue;
            for (int n = 0; n < count; n++)
                if (addresses[n] == 0 && strcmp(name, names[n]) == 0)
                    addresses[n] = symbols[s].st_value + bias;
        }
        found = addresses[0] != 0;
    }
done:
    free(strings);
    free(symbols);
    free(sections);
    close(fd);
    return found;
}

size_t ts_remote_parse_maps_line(const char *line, uint64_t *start, uint64_t *offset)
{
    uint64_t end; /* read only so that a line without it is no mapping */
    const char *cursor = ts_textscan_hex(line, start);
    if (cursor == NULL || *cursor != '-')
        return 0;
    cursor = ts_textscan_hex(cursor + 1, &end);
    if (cursor != NULL)
        cursor = ts_textscan_skip_word(cursor); /* permissions */
    if (cursor != NULL)
        cursor = ts_textscan_hex(cursor, offset);
    if (cursor != NULL)
        cursor = ts_textscan_skip_word(cursor); /* device */
    if (cursor != NULL)
        cursor = ts_textscan_skip_word(cursor); /* inode */
    if (cursor == NULL)
        return 0;
    cursor = ts_textscan_skip_blanks(cursor);
    return *cursor == '/' ? (size_t)(cursor - line) : 0;
}

/* Whether `path` is the executable or a libpython: the objects that may hold the runtime. */
static int may_hold_runtime(const char *path, const char *executable)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    return strcmp(path, executable) == 0 || strncmp(base, "libpython", 9) == 0;
}

int ts_remote_find_symbols(pid_t pid, const char *const *names, uint64_t *addresses,
                           int count, char *object, size_t object_size)
{
    char proc_path[64], executable[4096] = "";
    snprintf(proc_path, sizeof proc_path, "/proc/%d/exe", (int)pid);
    ssize_t length = readlink(proc_path, executable, sizeof executable - 1);
    if (length < 0 && errno == ENOENT)
        return -1;
    if (length >= 0)
        executable[length] = '\0';
    snprintf(proc_path, sizeof proc_path, "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(proc_path, "re");
    if (maps == NULL)
        return -1; /* ENOENT or EACCES, as the caller wants them */
    char line[4096 + 256], tried[4096] = "";
    int found = 0;
    errno = 0;
    while (!found && fgets(line, sizeof line, maps) != NULL) {
        uint64_t start, offset;
        size_t path_at = ts_remote_parse_maps_line(line, &start, &offset);
        if (path_at == 0 || offset != 0)
            continue;
        char *path = line + path_at;
        path[strcspn(path, "\n")] = '\0';
        /* Each object once: its first mapping (file offset 0) is its base. */
        if (strcmp(path, tried) == 0 || !may_hold_runtime(path, executable))
            continue;
        snprintf(tried, sizeof tried, "%s", path);
        if (lookup_in_object(path, start, names, addresses, count)) {
            snprintf(object, object_size, "%s", path);
            found = 1;
        }
    }
    /* A read error of a process that exits meanwhile reads as no process. */
    int read_failed = ferror(maps);
    fclose(maps);
    if (found)
        return 0;
    errno = read_failed ? ENOENT : ESRCH;
    return -1;
}
