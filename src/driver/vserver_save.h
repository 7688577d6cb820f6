/*
 * vserver_save.h: save, restore and managed save of a context with CRIU
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "vserver_driver.h"

/* 0 when this host can checkpoint and restore (CRIU built and there),
 * else -1 with "unsupported on this host: <reason>". */
int vserverSaveCheckHost(virVServerDriverConfig *cfg);

/* Dump @vm (locked, running) with CRIU into the directory @dir and wait
 * for it to stop (reason "saved", or "migrated" when @migrate).  On
 * failure it runs on. */
int vserverSaveDump(vserverDriver *driver, virDomainObj *vm, const char *dir,
                    bool migrate);

/* Dump @vm (locked, running) into the save file @path, with @def (NULL:
 * the domain's own) as the image's XML and @paused as the state to
 * resume in; the context stops with reason "saved".  On failure it runs
 * on and @path is untouched. */
int vserverSaveContext(vserverDriver *driver, virDomainObj *vm,
                       const char *path, virDomainDef *def, bool paused);

/* The domain of the save file @path and (@paused, optional) the state it
 * resumes in; @dirOut (optional): the unpacked image directory below the
 * run directory, for the caller to delete (without it only the header is
 * unpacked). */
virDomainDef *vserverSaveReadImage(vserverDriver *driver, const char *path,
                                   bool *paused, char **dirOut);

/* <stateDir>/save/NAME.save */
char *vserverSaveManagedPath(virVServerDriverConfig *cfg, virDomainObj *vm);

/* Mark the domains that have a managed save image (daemon start). */
void vserverSaveLoadManaged(vserverDriver *driver);

/* Start @vm (locked, inactive) from its managed save image, which is
 * removed once the context runs; VIR_DOMAIN_START_FORCE_BOOT removes it
 * first.  1: restored (events queued), 0: no image, boot it, -1: error
 * (the image is kept). */
int vserverSaveStartManaged(vserverDriver *driver, virDomainObj *vm,
                            unsigned int flags);

int vserverDomainSave(virDomainPtr dom, const char *to);
int vserverDomainSaveFlags(virDomainPtr dom, const char *to,
                           const char *dxml, unsigned int flags);
int vserverDomainRestore(virConnectPtr conn, const char *from);
int vserverDomainRestoreFlags(virConnectPtr conn, const char *from,
                              const char *dxml, unsigned int flags);
char *vserverDomainSaveImageGetXMLDesc(virConnectPtr conn, const char *path,
                                       unsigned int flags);
int vserverDomainSaveImageDefineXML(virConnectPtr conn, const char *path,
                                    const char *dxml, unsigned int flags);
int vserverDomainManagedSave(virDomainPtr dom, unsigned int flags);
int vserverDomainHasManagedSaveImage(virDomainPtr dom, unsigned int flags);
int vserverDomainManagedSaveRemove(virDomainPtr dom, unsigned int flags);
char *vserverDomainManagedSaveGetXMLDesc(virDomainPtr dom,
                                         unsigned int flags);
int vserverDomainManagedSaveDefineXML(virDomainPtr dom, const char *dxml,
                                      unsigned int flags);
