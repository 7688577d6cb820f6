/*
 * migrate-prepare.c: the destination's half of a migration's first step,
 * as a client that then goes away (context-migrate-abandon.sh).
 *
 *   migrate-prepare URI DOMAIN-XML-FILE
 *
 * Calls Prepare (virDomainMigratePrepare3Params, libvirt's private entry
 * point, the one virsh and a source daemon call on the destination) with
 * the domain XML, prints "uri=URI-OUT" (where the source would connect),
 * or "error=MESSAGE" and exits 1; then waits until its standard input
 * ends and exits without Finish and without closing the connection: the
 * daemon sees its client go away.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "libvirt-private.h"


static char *
readFile(const char *path)
{
    FILE *fp = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0;
    ssize_t n;

    if (!fp)
        return NULL;
    n = getdelim(&buf, &len, '\0', fp);
    fclose(fp);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}


int
main(int argc, char **argv)
{
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    int maxparams = 0;
    char *cookieout = NULL;
    int cookieoutlen = 0;
    char *uriOut = NULL;
    virConnectPtr conn;
    char *xml;
    char c;

    if (argc != 3) {
        fprintf(stderr, "usage: %s URI DOMAIN-XML-FILE\n", argv[0]);
        return 2;
    }
    if (!(xml = readFile(argv[2]))) {
        perror(argv[2]);
        return 2;
    }
    if (!(conn = virConnectOpen(argv[1]))) {
        printf("error=%s\n", virGetLastErrorMessage());
        return 1;
    }
    if (virTypedParamsAddString(&params, &nparams, &maxparams,
                                VIR_MIGRATE_PARAM_DEST_XML, xml) < 0 ||
        virDomainMigratePrepare3Params(conn, params, nparams, NULL, 0,
                                       &cookieout, &cookieoutlen, &uriOut,
                                       VIR_MIGRATE_LIVE) < 0) {
        printf("error=%s\n", virGetLastErrorMessage());
        return 1;
    }
    printf("uri=%s\n", uriOut ? uriOut : "");
    fflush(stdout);

    while (read(STDIN_FILENO, &c, 1) > 0)
        ;
    /* gone, as a killed virsh or a crashed source daemon would be */
    _exit(0);
}
