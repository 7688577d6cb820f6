#!/bin/bash
# Stock virsh / virt-install / virt-admin against a private virtvserverd:
# connect and node APIs, domain definitions and their persistence across
# daemon restarts (clean and SIGKILL), rejected inputs leave nothing behind,
# storage calls served by this project's storage driver.
set -u
. "$(dirname "$0")/lib.sh"

inst_setup
work=$inst_dir/work
mkdir -p "$work/rootfs"

out=$(virsh -c "$uri" version 2>&1)
contains "version reports the VServer hypervisor" "Running hypervisor: VServer 0.1.0" "$out"
equals "uri is the private instance's" "$uri" "$(virsh -c "$uri" uri)"
equals "hostname is the host's" "$(hostname)" "$(vsh hostname)"
out=$(vsh nodeinfo)
contains "nodeinfo counts the host CPUs" "CPU(s):              $(nproc)" "$out"
contains "nodememstats reports total memory" "total" "$(vsh nodememstats)"
contains "nodecpustats reports user time" "user:" "$(vsh nodecpustats)"
caps=$(vsh capabilities)
contains "capabilities: guest os type exe" "<os_type>exe</os_type>" "$caps"
contains "capabilities: domain type lxc" "<domain type='lxc'/>" "$caps"
contains "capabilities: host arch" "<arch>$(uname -m)</arch>" "$caps"
contains "capabilities: NUMA topology" "<cells num=" "$caps"
contains "domcapabilities: lxc domain" "<domain>lxc</domain>" "$(vsh domcapabilities)"
out=$(vsh domcapabilities --virttype kvm 2>&1)
contains "domcapabilities refuses kvm" "virttype 'kvm' is not supported" "$out"
out=$(vsh sysinfo 2>&1)
case "$out" in
    *"<sysinfo"*|*"host SMBIOS information is not available"*) ok 0 "sysinfo returns SMBIOS data or a clear unsupported error" ;;
    *) ok 1 "sysinfo returns SMBIOS data or a clear unsupported error"; echo "# $out" ;;
esac
contains "virt-admin reaches the admin socket" "virtvserverd" "$(virt-admin -c "$admin_uri" srv-list 2>&1)"

# storage calls must reach our storage driver: no storage daemon runs here,
# so a forward to storage:///system would fail
check "pool-list is served by the vserver storage driver" -- vsh pool-list --all
out=$(vsh pool-info nosuchpool 2>&1)
contains "unknown pool gives a clear error" "no storage pool with matching name 'nosuchpool'" "$out"

# --- virt-install
vi_xml=$(virt-install --connect "$uri" --container --name vi1 \
    --filesystem "$work/rootfs,/" --memory 128 --network none --print-xml 2>&1)
contains "virt-install --print-xml makes an lxc domain" "<domain type=\"lxc\">" "$vi_xml"
check "virt-install --dry-run succeeds" -- virt-install --connect "$uri" --container \
    --name vi1 --filesystem "$work/rootfs,/" --memory 128 --network none --dry-run
printf '%s\n' "$vi_xml" > "$work/vi1.xml"
check "define --validate of virt-install's XML" -- vsh define --validate "$work/vi1.xml"
check "config file written" -- test -f "$confdir/vi1.xml"
uuid=$(vsh domuuid vi1)
equals "domname from uuid" "vi1" "$(vsh domname "$uuid")"
equals "domid of a defined domain is -" "-" "$(vsh domid vi1)"
equals "domstate --reason" "shut off (unknown)" "$(vsh domstate --reason vi1)"
out=$(vsh dominfo vi1)
contains "dominfo shows os type exe" "OS Type:        exe" "$out"
contains "dominfo shows persistent" "Persistent:     yes" "$out"
contains "dominfo shows max memory" "Max memory:     131072 KiB" "$out"
contains "list --all shows the domain" "vi1" "$(vsh list --all)"
contains "dumpxml has the root filesystem" "<source dir='$work/rootfs'/>" "$(vsh dumpxml vi1)"

# --- the namespace
cat > "$work/ns.xml" <<XML
<domain type='lxc' xmlns:vserver='http://libvirt-vserver.org/schemas/domain/vserver/1.0'>
  <name>ns1</name>
  <memory unit='MiB'>64</memory>
  <os><type>exe</type><init>/bin/sh</init></os>
  <devices><filesystem type='mount'><source dir='$work/rootfs'/><target dir='/'/></filesystem></devices>
  <vserver:context><vserver:pids max='64'/><vserver:shutdown signal='SIGUSR2' timeout='5'/></vserver:context>
</domain>
XML
check "define --validate with the vserver namespace" -- vsh define --validate "$work/ns.xml"
out=$(vsh dumpxml ns1)
contains "dumpxml keeps vserver:pids" "<vserver:pids max='64'/>" "$out"
contains "dumpxml keeps vserver:shutdown" "<vserver:shutdown signal='SIGUSR2' timeout='5'/>" "$out"

# --- rejected input leaves nothing behind
before=$(ls "$confdir" | sort | tr '\n' ' ')
reject() {   # reject DESC EXPECTED-ERROR FILE [define flags]
    local desc=$1 err=$2 file=$3; shift 3
    local o
    o=$(vsh define "$@" "$file" 2>&1) && { ok 1 "$desc (was accepted)"; return; }
    contains "$desc" "$err" "$o"
}
sed -e "s/type='lxc'/type='kvm'/" -e 's/ns1/bad1/' -e 's/>exe</>hvm</' "$work/ns.xml" > "$work/kvm.xml"
reject "type kvm rejected" "domain type 'kvm' is not supported" "$work/kvm.xml"
sed -e "s/type='lxc'/type='none'/" -e 's/ns1/bad2/' "$work/ns.xml" > "$work/none.xml"
reject "type none rejected" "domain type 'none' is not supported" "$work/none.xml"
sed -e 's/>exe</>hvm</' -e 's/ns1/bad3/' "$work/ns.xml" > "$work/hvm.xml"
reject "os type hvm rejected" "os type 'hvm' is not supported" "$work/hvm.xml"
sed -e 's/vserver:pids max/vserver:pidz max/' -e 's/ns1/bad4/' "$work/ns.xml" > "$work/unk.xml"
reject "unknown namespace element rejected" "unsupported element <vserver:pidz>" "$work/unk.xml"
sed -e 's|<os>|<bogus/><os>|' -e 's/ns1/bad5/' "$work/ns.xml" > "$work/bogus.xml"
reject "define --validate rejects an element outside the schema" "failed to validate against schema" "$work/bogus.xml" --validate
printf '<domain type="lxc"><name>bad6</name>' > "$work/malformed.xml"
reject "malformed XML rejected" "Premature end of data" "$work/malformed.xml"
sed -e '/<uuid>/d' "$work/vi1.xml" | sed "s|<name>vi1</name>|<name>vi1</name><uuid>00000000-1111-2222-3333-444444444444</uuid>|" > "$work/dup.xml"
reject "same name with another uuid refused" "domain 'vi1' already exists with uuid $uuid" "$work/dup.xml"
equals "rejected definitions wrote nothing" "$before" "$(ls "$confdir" | sort | tr '\n' ' ')"
out=$(vsh list --all --name | sort | tr '\n' ' ')
equals "rejected definitions are not listed" "ns1 vi1 " "$out"

# --- redefine updates, autostart, description, metadata
sed -e 's/131072/262144/g' "$work/vi1.xml" > "$work/vi1b.xml"
check "redefine with the same uuid" -- vsh define "$work/vi1b.xml"
contains "redefine updated the memory" "<memory unit='KiB'>262144</memory>" "$(vsh dumpxml vi1)"
contains "redefine updated the file on disk" "262144" "$(cat "$confdir/vi1.xml")"
check "autostart" -- vsh autostart vi1
check "autostart link created" -- test -L "$confdir/autostart/vi1.xml"
check "desc --config" -- vsh desc vi1 --config "context for the web"
check "metadata --config" -- vsh metadata vi1 http://example.org/vs --config --key ex --set '<note level="2"/>'

# --- restart: clean, then SIGKILL
"$instance" stop "$inst_dir"; "$instance" start "$inst_dir" >/dev/null
equals "definitions survive a daemon restart" "ns1 vi1 " "$(vsh list --all --name | sort | tr '\n' ' ')"
contains "autostart survives a restart" "Autostart:      enable" "$(vsh dominfo vi1)"
equals "description survives a restart" "context for the web" "$(vsh desc vi1)"
contains "metadata survives a restart" 'level="2"' "$(vsh metadata vi1 http://example.org/vs)"
contains "namespace data survives a restart" "<vserver:pids max='64'/>" "$(vsh dumpxml ns1)"
"$instance" kill "$inst_dir"; "$instance" start "$inst_dir" >/dev/null
equals "definitions survive SIGKILL of the daemon" "ns1 vi1 " "$(vsh list --all --name | sort | tr '\n' ' ')"
check "autostart --disable" -- vsh autostart --disable vi1
check "autostart link removed" -- test ! -e "$confdir/autostart/vi1.xml"

# --- driver config: max_domains
printf 'max_domains = 2\n' > "$inst_dir/etc/libvirt/vserver.conf"
"$instance" stop "$inst_dir"; "$instance" start "$inst_dir" >/dev/null
sed -e 's/ns1/third/' "$work/ns.xml" > "$work/third.xml"
reject "max_domains refuses a third domain" "max_domains (2) reached" "$work/third.xml"
check "max_domains still allows redefining" -- vsh define "$work/vi1b.xml"
printf 'max_domian = 2\n' > "$inst_dir/etc/libvirt/vserver.conf"
"$instance" stop "$inst_dir"
if "$instance" start "$inst_dir" >/dev/null 2>&1; then
    ok 1 "daemon refuses to start with an unknown vserver.conf key"
else
    contains "daemon refuses to start with an unknown vserver.conf key" \
        "unknown key 'max_domian'" "$(cat "$inst_dir/var/log/libvirt/virtvserverd.log")"
fi
rm -f "$inst_dir/etc/libvirt/vserver.conf"
"$instance" start "$inst_dir" >/dev/null

# --- undefine
check "undefine vi1" -- vsh undefine vi1
check "undefine removed the config file" -- test ! -e "$confdir/vi1.xml"
check "undefine ns1" -- vsh undefine ns1
equals "nothing left defined" "" "$(vsh list --all --name | tr -d '\n')"
out=$(vsh dominfo vi1 2>&1)
contains "undefined domain is gone" "failed to get domain 'vi1'" "$out"

tap_done
