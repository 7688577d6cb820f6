/*
 * vserver_vol_digest.h: the content identity of a template volume
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

/* SHA-256 (hex) over the entries of @tree: names, types, modes, owners,
 * extended attributes and contents; NULL with an error reported. */
char *vserverVolTreeDigest(const char *tree);

/* The digest of the template whose directory is @volDir and tree @tree,
 * computed once and then kept in @volDir/digest. */
char *vserverVolCachedDigest(const char *volDir, const char *tree);
