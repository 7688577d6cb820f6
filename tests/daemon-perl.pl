#!/usr/bin/perl
# Perl Sys::Virt (Debian's libsys-virt-perl) against a private virtvserverd
# (URI in $ARGV[0], a busybox root in $ARGV[1]): define from XML, start,
# info and state, suspend/resume, shutdown, start/destroy, undefine, the
# lists, lifecycle events for each step, and the errors of bad XML and of
# an unknown domain.  TAP output (Test::More).
use strict;
use warnings;

use Sys::Virt;
use Sys::Virt::Event;
use Test::More;
use Time::HiRes qw(time);

my ($uri, $rootfs) = @ARGV;
die "usage: $0 URI ROOTFS\n" unless defined $rootfs;

Sys::Virt::Event::register_default();
# run_default() blocks until something happens: a timer bounds each wait
Sys::Virt::Event::add_timeout(100, sub {});

my $conn = Sys::Virt->new(uri => $uri);
ok($conn, "Sys::Virt->new($uri)");
is($conn->get_type(), "VServer", "get_type is VServer");
is($conn->get_uri(), $uri, "get_uri is the instance's");
# names(FLAGS): the sorted names of list_all_domains(FLAGS)
sub names {
    return [sort map { $_->get_name() } $conn->list_all_domains(@_)];
}
is_deeply(names(), [], "no domains at start");

my @events;
my $cb = $conn->domain_event_register_any(
    undef, Sys::Virt::Domain::EVENT_ID_LIFECYCLE,
    sub {
        my ($c, $dom, $event, $detail) = @_;
        push @events, [$dom->get_name(), $event, $detail];
    });
ok(defined $cb && $cb >= 0, "lifecycle callback registered");

# until(SECONDS, CODE): run the event loop until CODE is true or time is up
sub until_true {
    my ($secs, $cond) = @_;
    my $end = time() + $secs;
    while (time() < $end) {
        return 1 if $cond->();
        Sys::Virt::Event::run_default();
    }
    return $cond->() ? 1 : 0;
}

sub got_event {
    my ($name, $event, $detail) = @_;
    return until_true(10, sub {
        scalar grep { $_->[0] eq $name && $_->[1] == $event && $_->[2] == $detail } @events;
    });
}

sub event_ok {
    my ($event, $detail, $desc) = @_;
    ok(got_event("pl1", $event, $detail), $desc) or
        diag("events so far: " . join(" ", map { "[@$_]" } @events));
}

sub state_is {
    my ($dom, $state, $reason) = @_;
    return until_true(15, sub {
        my ($s, $r) = $dom->get_state();
        return $s == $state && (!defined $reason || $r == $reason);
    });
}

my $xml = <<"XML";
<domain type='lxc'>
  <name>pl1</name>
  <memory unit='MiB'>64</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <devices>
    <filesystem type='mount'><source dir='$rootfs'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
XML

# --- define
my $dom = $conn->define_domain($xml);
ok($dom, "define_domain from XML");
is($dom->get_name(), "pl1", "the domain is named pl1");
event_ok(Sys::Virt::Domain::EVENT_DEFINED, Sys::Virt::Domain::EVENT_DEFINED_ADDED,
         "DEFINED/ADDED event");
ok($dom->is_persistent() && !$dom->is_active(), "persistent and inactive");
is($conn->num_of_defined_domains(), 1, "num_of_defined_domains");
is_deeply([$conn->list_defined_domain_names(1)], ["pl1"], "list_defined_domain_names");
like($dom->get_xml_description(), qr{<source dir='\Q$rootfs\E'/>},
     "get_xml_description has the root file system");
my $uuid = $dom->get_uuid_string();
is($conn->get_domain_by_uuid($uuid)->get_name(), "pl1", "get_domain_by_uuid");

# --- start
ok(eval { $dom->create(); 1 }, "create (start)") or diag("$@");
event_ok(Sys::Virt::Domain::EVENT_STARTED, Sys::Virt::Domain::EVENT_STARTED_BOOTED,
         "STARTED/BOOTED event");
ok(state_is($dom, Sys::Virt::Domain::STATE_RUNNING, Sys::Virt::Domain::STATE_RUNNING_BOOTED),
   "get_state: running (booted)");
my $info = $dom->get_info();
is($info->{state}, Sys::Virt::Domain::STATE_RUNNING, "get_info: state running");
is($info->{maxMem}, 65536, "get_info: maxMem is 64 MiB in KiB");
ok($info->{nrVirtCpu} >= 1, "get_info: at least one CPU ($info->{nrVirtCpu})");
my $pid = $dom->get_id();
ok($pid > 0 && -d "/proc/$pid", "get_id is the host pid of init ($pid)");
is_deeply([map { $_->get_name() } $conn->list_domains()], ["pl1"], "list_domains lists the running domain");
is_deeply(names(Sys::Virt::Domain::LIST_ACTIVE), ["pl1"], "list_all_domains(LIST_ACTIVE) too");
is_deeply(names(Sys::Virt::Domain::LIST_INACTIVE), [], "list_all_domains(LIST_INACTIVE) is empty");

# --- suspend / resume
ok(eval { $dom->suspend(); 1 }, "suspend") or diag("$@");
ok(state_is($dom, Sys::Virt::Domain::STATE_PAUSED, Sys::Virt::Domain::STATE_PAUSED_USER),
   "get_state: paused (user)");
event_ok(Sys::Virt::Domain::EVENT_SUSPENDED, Sys::Virt::Domain::EVENT_SUSPENDED_PAUSED,
         "SUSPENDED/PAUSED event");
ok(eval { $dom->resume(); 1 }, "resume") or diag("$@");
ok(state_is($dom, Sys::Virt::Domain::STATE_RUNNING, Sys::Virt::Domain::STATE_RUNNING_UNPAUSED),
   "get_state: running (unpaused)");
event_ok(Sys::Virt::Domain::EVENT_RESUMED, Sys::Virt::Domain::EVENT_RESUMED_UNPAUSED,
         "RESUMED/UNPAUSED event");

# --- shutdown: busybox init has its signal handlers once it runs its inittab
until_true(5, sub {
    opendir(my $d, "/proc") or return 0;
    for my $p (grep { /^\d+$/ } readdir($d)) {
        open(my $f, "<", "/proc/$p/stat") or next;
        my $stat = <$f>;
        return 1 if defined $stat && $stat =~ /\) \S+ $pid /;
    }
    return 0;
});
ok(eval { $dom->shutdown(); 1 }, "shutdown") or diag("$@");
ok(state_is($dom, Sys::Virt::Domain::STATE_SHUTOFF, Sys::Virt::Domain::STATE_SHUTOFF_SHUTDOWN),
   "get_state: shut off (shutdown)");
event_ok(Sys::Virt::Domain::EVENT_STOPPED, Sys::Virt::Domain::EVENT_STOPPED_SHUTDOWN,
         "STOPPED/SHUTDOWN event");
ok(!-d "/proc/$pid", "init is gone after shutdown");

# --- start again, destroy
ok(eval { $dom->create(); 1 }, "create again") or diag("$@");
ok(state_is($dom, Sys::Virt::Domain::STATE_RUNNING), "running again");
ok(eval { $dom->destroy(); 1 }, "destroy") or diag("$@");
ok(state_is($dom, Sys::Virt::Domain::STATE_SHUTOFF, Sys::Virt::Domain::STATE_SHUTOFF_DESTROYED),
   "get_state: shut off (destroyed)");
event_ok(Sys::Virt::Domain::EVENT_STOPPED, Sys::Virt::Domain::EVENT_STOPPED_DESTROYED,
         "STOPPED/DESTROYED event");
is_deeply(names(Sys::Virt::Domain::LIST_ACTIVE), [], "no active domain after destroy");

# --- errors
eval { $conn->define_domain("<domain type='lxc'><name>bad</name>") };
my $err = $@;
ok(ref($err) && $err->isa("Sys::Virt::Error"), "bad XML raises a Sys::Virt::Error");
like(ref($err) ? $err->message : "$err", qr/Premature end of data/, "... naming the parse error");
eval { $conn->define_domain($xml =~ s/type='lxc'/type='kvm'/r =~ s/>exe</>hvm</r =~ s/pl1/pl2/r) };
like(ref($@) ? $@->message : "$@", qr/domain type 'kvm' is not supported/,
     "a kvm domain is refused with a clear error");
eval { $conn->get_domain_by_name("nope") };
is(ref($@) ? $@->code : -1, Sys::Virt::Error::ERR_NO_DOMAIN,
   "get_domain_by_name of an unknown domain: ERR_NO_DOMAIN");
is_deeply(names(), ["pl1"], "refused definitions are not listed");

# --- undefine
ok(eval { $dom->undefine(); 1 }, "undefine") or diag("$@");
event_ok(Sys::Virt::Domain::EVENT_UNDEFINED, Sys::Virt::Domain::EVENT_UNDEFINED_REMOVED,
         "UNDEFINED/REMOVED event");
is_deeply(names(), [], "no domains after undefine");

$conn->domain_event_deregister_any($cb);
done_testing();
