/*
 * src/cli/message.c - what the shmrt command says on stderr: one line
 * per message, with whatever came from outside (names, paths, keys, file
 * contents inside the library's details) made safe for a terminal.
 */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

/* Longest message shown, in input bytes; the rest is cut. */
#define CLI_MSG_SHOWN 400

size_t cli_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (n == 0 || s[0] < 0xc2 || s[0] > 0xf4)
		return 0; /* ASCII, a continuation byte, or never valid */
	len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	if (n < len)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF, and C1 controls. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp < 0xa0)
		return 0;
	return len;
}

void cli_write_escaped(FILE *f, const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t end = len < max ? len : max, i = 0, n;

	while (i < end) {
		if (u[i] >= 0x20 && u[i] < 0x7f) {
			fputc(u[i++], f);
		} else if ((n = cli_utf8_seq(u + i, end - i)) > 0) {
			fwrite(u + i, 1, n, f);
			i += n;
		} else {
			fprintf(f, "\\x%02x", u[i++]);
		}
	}
	if (len > max)
		fprintf(f, "...(cut: %zu bytes in all)", len);
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_verror(cmd, fmt, ap);
	va_end(ap);
}

void cli_verror(const char *cmd, const char *fmt, va_list ap)
{
	char msg[CLI_MSG_SHOWN + 1];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	fprintf(stderr, "shmrt%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	/* n is the whole length; msg holds the CLI_MSG_SHOWN shown. */
	cli_write_escaped(stderr, msg, n > 0 ? (size_t)n : 0, CLI_MSG_SHOWN);
	fputc('\n', stderr);
}
