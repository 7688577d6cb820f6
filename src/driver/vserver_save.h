/*
 * vserver_save.h: virsh save / restore of a context with CRIU
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_driver.h"

/* Dump @vm (locked, running) into the save file @path; the context stops
 * with reason "saved".  On failure it runs on and @path is untouched. */
int vserverSaveContext(vserverDriver *driver, virDomainObj *vm,
                       const char *path);

/* The domain of the save file @path; @dirOut (optional): the unpacked
 * image directory below the run directory, for the caller to delete
 * (without it only the domain's XML is unpacked). */
virDomainDef *vserverSaveReadImage(vserverDriver *driver, const char *path,
                                   char **dirOut);

/* Start the context of @def (taken) from the image directory @dir that
 * vserverSaveReadImage unpacked: the domain object, locked, or NULL with
 * nothing left behind. */
virDomainObj *vserverSaveRestoreContext(vserverDriver *driver,
                                        virDomainDef **def,
                                        const char *dir);

int vserverDomainSave(virDomainPtr dom, const char *to);
int vserverDomainSaveFlags(virDomainPtr dom, const char *to,
                           const char *dxml, unsigned int flags);
int vserverDomainRestore(virConnectPtr conn, const char *from);
int vserverDomainRestoreFlags(virConnectPtr conn, const char *from,
                              const char *dxml, unsigned int flags);
char *vserverDomainSaveImageGetXMLDesc(virConnectPtr conn, const char *path,
                                       unsigned int flags);
