/* SPDX-License-Identifier: MIT */
/*
 * facteurctl dkim - the DKIM keys facteur signs with.
 *
 *   dkim keygen DOMAIN SELECTOR [BITS]
 *
 * Writes a new RSA key (2048 bits by default) to
 * $dkim_key_directory/DOMAIN/SELECTOR.private, PEM PKCS#8 like
 * opendkim-genkey, mode 0600 (owned by mail_owner when run as root), and
 * prints the TXT record to publish, in opendkim-genkey's .txt layout;
 * with -j a JSON object (domain, selector, bits, key_file, name, txt).
 * An existing key is never overwritten.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "facteurctl.h"
#include "lib/mem.h"
#include "lib/params.h"
#include "lib/proc.h"

#define TXT_CHUNK 250

/* A DNS label sequence we can put in a path and a record: letters, digits, - _ . */
static int
name_ok(const char *s)
{
	if (s[0] == '\0' || s[0] == '.' || strlen(s) > 253)
		return 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.'))
			return 0;
		if (*p == '.' && p[1] == '.')
			return 0;
	}
	return 1;
}

/* The base64 SubjectPublicKeyInfo of key (the p= of RFC 6376 3.6.1), malloc'd. */
static char *
public_b64(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	char *b64;

	if (len <= 0)
		return NULL;
	b64 = xmalloc(((size_t)len + 2) / 3 * 4 + 1);
	EVP_EncodeBlock((unsigned char *)b64, der, len);
	OPENSSL_free(der);
	return b64;
}

static int
keygen(const char *domain_arg, const char *selector, long bits)
{
	char dir[4096], path[4096], tmp[4096], domain[256], *p;
	EVP_PKEY *key = NULL;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	FILE *f = NULL;
	int fd = -1, rc = 1;

	str_copy(domain, domain_arg, sizeof(domain));
	str_lower(domain);
	while (domain[0] != '\0' && domain[strlen(domain) - 1] == '.')
		domain[strlen(domain) - 1] = '\0';
	if (!name_ok(domain) || !name_ok(selector)) {
		fprintf(stderr, "facteurctl: dkim keygen: \"%s\" / \"%s\": not a domain and a selector\n",
		    domain_arg, selector);
		return 2;
	}
	if (bits < 1024 || bits > 8192) {
		fprintf(stderr, "facteurctl: dkim keygen: %ld bits: use 1024 to 8192 (RFC 8301)\n", bits);
		return 2;
	}
	if (var_dkim_key_directory[0] != '\0')
		str_copy(dir, var_dkim_key_directory, sizeof(dir));
	else
		spool_path("dkim", dir, sizeof(dir));
	if (geteuid() == 0 && proc_user_ids(var_mail_owner, &uid, &gid) < 0) {
		fprintf(stderr, "facteurctl: dkim keygen: mail_owner %s: no such user\n", var_mail_owner);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, domain);
	/* The daemons read the keys: the directories belong to mail_owner when we are root. */
	if (proc_mkdir(dir, 0750, uid, gid) < 0 || proc_mkdir(path, 0750, uid, gid) < 0) {
		fprintf(stderr, "facteurctl: dkim keygen: %s: %s\n", path, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s/%s.private", dir, domain, selector);
	snprintf(tmp, sizeof(tmp), "%s/%s/.%s.private.tmp", dir, domain, selector);
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "facteurctl: dkim keygen: %s exists: remove it first to replace the key\n", path);
		return 1;
	}
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)) == NULL) {
		fprintf(stderr, "facteurctl: dkim keygen: RSA key generation failed\n");
		return 1;
	}
	/* Written aside and renamed: a key file is whole or absent. */
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 ||
	    (uid != (uid_t)-1 && fchown(fd, uid, gid) < 0) || (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "facteurctl: dkim keygen: %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) || fflush(f) != 0 || fsync(fileno(f)) < 0) {
		fprintf(stderr, "facteurctl: dkim keygen: %s: cannot write the key\n", tmp);
		goto out;
	}
	if (link(tmp, path) < 0) {
		fprintf(stderr, "facteurctl: dkim keygen: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if ((p = public_b64(key)) == NULL) {
		fprintf(stderr, "facteurctl: dkim keygen: cannot encode the public key\n");
		goto out;
	}
	if (ctl_json) {
		char *txt = xasprintf("v=DKIM1; k=rsa; p=%s", p);
		char *name = xasprintf("%s._domainkey.%s.", selector, domain);
		fputs("{\"domain\":", stdout);
		ctl_json_string(stdout, domain);
		fputs(",\"selector\":", stdout);
		ctl_json_string(stdout, selector);
		printf(",\"bits\":%ld,\"key_file\":", bits);
		ctl_json_string(stdout, path);
		fputs(",\"name\":", stdout);
		ctl_json_string(stdout, name);
		fputs(",\"txt\":", stdout);
		ctl_json_string(stdout, txt);
		fputs("}\n", stdout);
		free(txt);
		free(name);
	} else {
		/* opendkim-genkey's layout: strings of at most 255 octets (RFC 1035 3.3.14). */
		size_t plen = strlen(p);
		printf("%s._domainkey.%s. IN TXT ( \"v=DKIM1; k=rsa; \"", selector, domain);
		for (size_t o = 0; o < plen; o += TXT_CHUNK)
			printf("\n\t\"%s%.*s\"", o == 0 ? "p=" : "", TXT_CHUNK, p + o);
		printf(" )  ; ----- DKIM key %s for %s, private key in %s\n", selector, domain, path);
	}
	free(p);
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	EVP_PKEY_free(key);
	return rc;
}

int
ctl_dkim(int argc, char **argv)
{
	long bits = 2048;
	char *end;

	if (argc < 3 || argc > 4 || strcmp(argv[0], "keygen") != 0) {
		fprintf(stderr, "usage: facteurctl dkim keygen DOMAIN SELECTOR [BITS]\n");
		return 2;
	}
	if (argc == 4) {
		errno = 0;
		bits = strtol(argv[3], &end, 10);
		if (errno != 0 || *end != '\0') {
			fprintf(stderr, "facteurctl: dkim keygen: \"%s\": not a number of bits\n", argv[3]);
			return 2;
		}
	}
	return keygen(argv[1], argv[2], bits);
}
