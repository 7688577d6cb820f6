/*
 * migrate-steps.c: a client-driven migration (protocol version 3 with
 * parameters, the steps virsh takes), paused between Perform and
 * Finish/Confirm (context-migrate-jobs.sh).
 *
 *   migrate-steps SRC-URI DST-URI DOMAIN
 *
 * Begin on the source, Prepare on the destination, Perform on the
 * source; then prints "performed" and reads a line from standard input:
 * "confirm" finishes the migration (Finish on the destination, Confirm
 * on the source) and prints "confirmed"; end of input exits at once,
 * without Finish or Confirm, as a killed virsh would.  An error prints
 * "error=STEP: MESSAGE" and exits 1.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "libvirt-private.h"


static int
fail(const char *step)
{
    printf("error=%s: %s\n", step, virGetLastErrorMessage());
    fflush(stdout);
    return 1;
}


int
main(int argc, char **argv)
{
    const unsigned int flags = VIR_MIGRATE_LIVE;
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    int maxparams = 0;
    char *cookie1 = NULL, *cookie2 = NULL, *cookie3 = NULL, *cookie4 = NULL;
    int len1 = 0, len2 = 0, len3 = 0, len4 = 0;
    char *xml;
    char *uri = NULL;
    char line[64];
    virConnectPtr src;
    virConnectPtr dst;
    virDomainPtr dom;
    virDomainPtr ddom;

    if (argc != 4) {
        fprintf(stderr, "usage: %s SRC-URI DST-URI DOMAIN\n", argv[0]);
        return 2;
    }
    if (!(src = virConnectOpen(argv[1])) || !(dst = virConnectOpen(argv[2])))
        return fail("connect");
    if (!(dom = virDomainLookupByName(src, argv[3])))
        return fail("lookup");

    if (!(xml = virDomainMigrateBegin3Params(dom, NULL, 0, &cookie1, &len1,
                                             flags)))
        return fail("begin");
    if (virTypedParamsAddString(&params, &nparams, &maxparams,
                                VIR_MIGRATE_PARAM_DEST_XML, xml) < 0 ||
        virDomainMigratePrepare3Params(dst, params, nparams, cookie1, len1,
                                       &cookie2, &len2, &uri, flags) < 0)
        return fail("prepare");
    if (virTypedParamsAddString(&params, &nparams, &maxparams,
                                VIR_MIGRATE_PARAM_URI, uri) < 0 ||
        virDomainMigratePerform3Params(dom, NULL, params, nparams,
                                       cookie2, len2, &cookie3, &len3,
                                       flags) < 0)
        return fail("perform");
    printf("performed\n");
    fflush(stdout);

    if (!fgets(line, sizeof(line), stdin) || strcmp(line, "confirm\n") != 0)
        _exit(0);       /* gone, between Perform and Confirm */

    ddom = virDomainMigrateFinish3Params(dst, params, nparams, cookie3, len3,
                                         &cookie4, &len4, flags, 0);
    if (!ddom) {
        fail("finish");
        /* the source resumes the context */
        virDomainMigrateConfirm3Params(dom, params, nparams, NULL, 0, flags, 1);
        return 1;
    }
    if (virDomainMigrateConfirm3Params(dom, params, nparams, cookie4, len4,
                                       flags, 0) < 0)
        return fail("confirm");
    printf("confirmed\n");
    fflush(stdout);
    return 0;
}
