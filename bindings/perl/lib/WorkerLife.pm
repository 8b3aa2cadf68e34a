package WorkerLife;

# The packages of this file trust each other, so croak names the caller's
# line, not one in here.
our @PACKAGES = qw(WorkerLife WorkerLife::Policy WorkerLife::Decision WorkerLife::Worker WorkerLife::Pool);
our @CARP_NOT = @PACKAGES;

# The Perl binding: an object API over libworkerlife's C ABI through
# FFI::Platypus (api 2). Thin: every rule lives in the library; this file
# converts arguments, results and errors.

use strict;
use warnings;
use Carp qw(croak);
use File::Basename qw(dirname);
use File::Spec;
use FFI::Platypus 2.00;
use FFI::Platypus::Buffer qw(scalar_to_buffer);
use JSON::PP ();
use Scalar::Util ();


# WORKERLIFE_LIB, then this repository's build, then the system's.
sub _library {
    if (my $lib = $ENV{WORKERLIFE_LIB}) {
        croak "workerlife: WORKERLIFE_LIB=$lib: no such file" unless -e $lib;
        return $lib;
    }
    my $repo = File::Spec->catfile(dirname(__FILE__), qw(.. .. .. target release libworkerlife.so));
    return File::Spec->rel2abs($repo) if -e $repo;
    require FFI::CheckLib;
    my $found = FFI::CheckLib::find_lib(lib => 'workerlife')
        or croak "workerlife: libworkerlife.so not found: set WORKERLIFE_LIB, "
        . "build the repository (cargo build --release) or install it (make install)";
    return $found;
}

our $LIBRARY = _library();
my $ffi = FFI::Platypus->new(api => 2, lib => $LIBRARY);

# Result codes (include/workerlife.h).
use constant {
    WL_OK               => 0,
    WL_BUFFER_TOO_SMALL => 102,
};

$ffi->attach([wl_last_error_message => '_last_error'] => ['opaque', 'size_t', 'size_t*'] => 'uint32');
$ffi->attach([wl_result_text => '_result_text'] => ['uint32', 'opaque', 'size_t', 'size_t*'] => 'uint32');
$ffi->attach([wl_version => 'library_version'] => [] => 'string');
# The version is the library's (Cargo.toml's), not a copy.
our $VERSION = library_version();
$ffi->attach([wl_key_name => '_key_name'] => ['uint32'] => 'string');
$ffi->attach([wl_key_unit => '_key_unit'] => ['uint32'] => 'uint32');
$ffi->attach([wl_reason_name => '_reason_name'] => ['uint32'] => 'string');
$ffi->attach([$_ => "_$_"] => ['uint32'] => 'string')
    for qw(wl_action_name wl_pool_action_kind_name wl_event_kind_name wl_sharing_name);
$ffi->attach([wl_reason_unit => '_reason_unit'] => ['uint32'] => 'uint32');

my %attach = (
    wl_policy_new        => [['opaque*'] => 'uint32'],
    wl_policy_parse      => [['string', 'opaque*'] => 'uint32'],
    wl_policy_free       => [['opaque'] => 'uint32'],
    wl_policy_set        => [['opaque', 'string', 'string'] => 'uint32'],
    wl_policy_get_raw    => [['opaque', 'uint32', 'uint64*'] => 'uint32'],
    wl_policy_to_string  => [['opaque', 'opaque', 'size_t', 'size_t*'] => 'uint32'],
    wl_pool_build        => [['opaque', 'opaque', 'opaque*'] => 'uint32'],
    wl_pool_attach       => [['string', 'opaque*'] => 'uint32'],
    wl_pool_free         => [['opaque'] => 'uint32'],
    wl_pool_slot_count   => [['opaque', 'uint32*'] => 'uint32'],
    wl_pool_policy       => [['opaque', 'opaque*'] => 'uint32'],
    wl_pool_worker       => [['opaque', 'uint32', 'opaque*'] => 'uint32'],
    wl_pool_claim        => [['opaque', 'uint32', 'opaque*'] => 'uint32'],
    wl_pool_spawned      => [['opaque', 'uint32', 'uint32'] => 'uint32'],
    wl_pool_adopt        => [['opaque', 'uint32'] => 'uint32'],
    wl_worker_sample_if_due => [['opaque', 'bool*'] => 'uint32'],
    wl_policy_set_number => [['opaque', 'string', 'double'] => 'uint32'],
    wl_pool_exiting      => [['opaque', 'uint32', 'uint32*'] => 'uint32'],
    wl_live_handles      => [['uint64*'] => 'uint32'],
    wl_pool_exited       => [['opaque', 'uint32', 'sint32', 'uint32*'] => 'uint32'],
    wl_pool_exited_slot  => [['opaque', 'uint32', 'sint32'] => 'uint32'],
    wl_pool_reap_dead    => [['opaque', 'opaque', 'size_t', 'size_t*'] => 'uint32'],
    wl_pool_sample       => [['opaque', 'uint32*', 'opaque', 'size_t', 'size_t*'] => 'uint32'],
    wl_pool_recycle      => [['opaque', 'uint32'] => 'uint32'],
    wl_pool_decision     => [['opaque', 'uint32', 'opaque'] => 'uint32'],
    wl_pool_tick         => [['opaque', 'opaque', 'size_t', 'size_t*'] => 'uint32'],
    wl_pool_events       => [['opaque', 'opaque', 'size_t', 'size_t*'] => 'uint32'],
    wl_pool_stats_json   => [['opaque', 'opaque', 'size_t', 'size_t*'] => 'uint32'],
    wl_pool_prometheus   => [['opaque', 'opaque', 'size_t', 'size_t*'] => 'uint32'],
    wl_pool_advance      => [['opaque', 'uint64'] => 'uint32'],
    wl_pool_now_us       => [['opaque', 'uint64*'] => 'uint32'],
    wl_pool_next_spawn_in => [['opaque', 'bool*', 'uint64*'] => 'uint32'],
    wl_worker_free       => [['opaque'] => 'uint32'],
    wl_worker_begin_last => [['opaque', 'bool*'] => 'uint32'],
    wl_worker_end        => [['opaque', 'bool*'] => 'uint32'],
    wl_worker_heartbeat  => [['opaque'] => 'uint32'],
    wl_worker_report_health => [['opaque', 'opaque'] => 'uint32'],
    wl_worker_sample_self => [['opaque', 'bool', 'opaque'] => 'uint32'],
    wl_worker_check      => [['opaque', 'bool'] => 'uint32'],
    wl_worker_decision   => [['opaque', 'opaque'] => 'uint32'],
    wl_worker_requests   => [['opaque', 'uint64*'] => 'uint32'],
    wl_worker_slot       => [['opaque', 'uint32*'] => 'uint32'],
    wl_worker_exiting    => [['opaque'] => 'uint32'],
    wl_decision_text     => [['opaque', 'opaque', 'size_t', 'size_t*'] => 'uint32'],
    wl_process_sample    => [['uint32', 'bool', 'opaque'] => 'uint32'],
    wl_process_identity  => [['uint32', 'uint64*'] => 'uint32'],
    wl_signal            => [['uint32', 'uint64', 'sint32'] => 'uint32'],
    wl_wait_released     => [['uint32', 'uint16', 'uint64', 'uint32*'] => 'uint32'],
);
$ffi->attach([$_ => "_$_"] => @{ $attach{$_} }) for sort keys %attach;

# The library's message for the last failed call on this thread.
sub _message {
    my ($code) = @_;
    my $buf = "\0" x 512;
    my ($ptr, $len) = scalar_to_buffer $buf;
    my $needed = 0;
    my $rc = _last_error($ptr, $len, \$needed);
    if ($rc == WL_BUFFER_TOO_SMALL) {
        $buf = "\0" x $needed;
        ($ptr, $len) = scalar_to_buffer $buf;
        $rc = _last_error($ptr, $len, \$needed);
    }
    $buf =~ s/\0.*//s;
    if ($buf eq '') {
        $buf = "\0" x 256;
        ($ptr, $len) = scalar_to_buffer $buf;
        _result_text($code, $ptr, $len, \$needed);
        $buf =~ s/\0.*//s;
    }
    return $buf;
}

# The result code of the last failed call, for callers that branch on it.
our $ERROR_CODE = 0;

# Croaks with the library's message unless $rc is WL_OK.
sub _check {
    my ($rc) = @_;
    return if $rc == WL_OK;
    $ERROR_CODE = $rc;
    croak "workerlife: " . _message($rc);
}

# Calls a (buf, len, needed) function and returns the string it wrote.
# Stats text can grow between two calls (a counter or an uptime gains a
# digit), so a retry asks for room to spare.
sub _string {
    my ($fn, @args) = @_;
    my $size = 1024;
    for (1 .. 5) {
        my $buf = "\0" x $size;
        my ($ptr, $len) = scalar_to_buffer $buf;
        my $needed = 0;
        my $rc = $fn->(@args, $ptr, $len, \$needed);
        if ($rc == WL_BUFFER_TOO_SMALL) {
            $size = $needed + 1024;
            next;
        }
        _check($rc);
        $buf =~ s/\0.*//s;
        return $buf;
    }
    croak "workerlife: the string kept growing";
}

# Policy keys: name => [number, unit], read from the library.
use constant { UNIT_BYTES => 0, UNIT_MICROSECONDS => 1, UNIT_COUNT => 2 };
our %KEYS;
for (my $i = 0; defined(my $name = _key_name($i)); $i++) {
    $KEYS{$name} = [$i, _key_unit($i)];
}

# A reading: undef for "none" and the other reserved values.
sub _reading { my ($v) = @_; return $v >= 18446744073709551613 ? undef : $v }

# A raw value in Perl terms: seconds for durations.
sub _value {
    my ($unit, $raw) = @_;
    return $unit == UNIT_MICROSECONDS ? $raw / 1e6 : $raw;
}

# The names of each table's numbers (undef where a number names nothing),
# read from the library, which holds the one definition of each.
sub _names {
    my ($lookup) = @_;
    return map { scalar $lookup->($_) } 0 .. 63;
}
our @ACTIONS      = _names(\&_wl_action_name);
our @REASONS      = _names(\&_reason_name);
our @POOL_ACTIONS = _names(\&_wl_pool_action_kind_name);
our @EVENTS       = _names(\&_wl_event_kind_name);
our @SHARING      = _names(\&_wl_sharing_name);

sub _reason {
    my ($code) = @_;
    return $code ? _reason_name($code) : undef;
}

# Structs of the C ABI, as pack templates (native layout, x86_64 and
# aarch64 alike): their sizes are checked by t/api.t.
our %LAYOUT = (
    decision => 'L L Q Q',
    action   => 'L5 x4 Q2',
    event    => 'L5 l C C x6 Q5',
    sample   => 'L x4 Q5',
    health   => 'Q4',
    options  => 'L L Q C C x6 Q',
);
our %SIZE = map { $_ => length pack($LAYOUT{$_}, (0) x 16) } keys %LAYOUT;

sub _decision {
    my ($fn, @args) = @_;
    my $buf = "\0" x $SIZE{decision};
    my ($ptr) = scalar_to_buffer $buf;
    _check($fn->(@args, $ptr));
    my ($action, $reason, $value, $limit) = unpack $LAYOUT{decision}, $buf;
    return WorkerLife::Decision->_new($buf, $action, $reason, $value, $limit);
}

sub _sample {
    my ($buf) = @_;
    my ($pid, $start, $rss, $fds, $uss, $pss) = unpack $LAYOUT{sample}, $buf;
    return {
        pid        => $pid,
        start_time => _reading($start),
        rss        => _reading($rss),
        fds        => _reading($fds),
        uss        => _reading($uss),
        pss        => _reading($pss),
    };
}

# Samples process $pid once: { pid, start_time, rss, fds, uss, pss } (undef:
# no reading); USS and PSS too when $uss is true.
sub sample {
    my ($pid, $uss) = @_;
    my $buf = "\0" x $SIZE{sample};
    my ($ptr) = scalar_to_buffer $buf;
    _check(_wl_process_sample(_pid($pid), $uss ? 1 : 0, $ptr));
    return _sample($buf);
}

# The thread that made a handle is the one that frees it: ithreads clone
# every object into a new thread, and a clone's DESTROY at the thread's end
# must not free the handle the other threads still use.
sub _tid { return $INC{'threads.pm'} ? threads->tid : 0 }

# A string for the library: the C side would stop at a NUL byte and
# silently drop the rest, so one is an error.
sub _text {
    my ($what, $s) = @_;
    croak "workerlife: $what must be a string" if !defined $s || ref $s;
    if (index($s, "\0") >= 0) {
        (my $shown = $s) =~ s/\0/\\0/g;
        croak "workerlife: $what contains a NUL byte: \"$shown\"";
    }
    return $s;
}

# A whole number that fits the library's 64-bit fields (below 10^19).
sub _whole {
    my ($what, $v) = @_;
    croak "workerlife: $what must be a whole number, not " . (defined $v ? "\"$v\"" : 'undef')
        unless defined $v && !ref $v && $v =~ /\A[0-9]{1,19}\z/;
    return $v;
}

# Seconds: a finite number from 0 to 1e9 (about 31 years; more, or 'inf',
# is a mistake rather than a wish to wait forever).
sub _seconds {
    my ($what, $v) = @_;
    croak "workerlife: $what must be a number of seconds from 0 to 1e9, not " . (defined $v ? "\"$v\"" : 'undef')
        unless defined $v && !ref $v
        && $v =~ /\A(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\z/ && $v <= 1e9;
    return $v;
}

# The identity (start time) of $pid, for kill().
sub identity {
    my ($pid) = @_;
    _check(_wl_process_identity(_pid($pid), \my $start));
    return $start;
}

# Sends $sig to $pid only if it is still the process of $identity (from
# identity()); croaks (and sends nothing) if the pid is gone or reused, or
# the identity is missing or 0: a bare pid never authorises a signal.
sub kill {
    my ($pid, $sig, $identity) = @_;
    _check(_wl_signal(_pid($pid), _whole('identity', $identity), _signal_number($sig)));
    return 1;
}

# 15, 'TERM' or 'SIGTERM' as a number.
sub _signal_number {
    my ($sig) = @_;
    croak "workerlife: no signal given" unless defined $sig;
    return $sig if $sig =~ /\A[0-9]+\z/;
    require Config;
    (my $name = $sig) =~ s/\ASIG//;
    my @names = split ' ', $Config::Config{sig_name};
    my @nums  = split ' ', $Config::Config{sig_num};
    for my $i (0 .. $#names) { return $nums[$i] if $names[$i] eq $name }
    croak "workerlife: unknown signal \"$sig\"";
}

# Waits until $pid (0: none) is gone and TCP $port (0: none) can be bound;
# croaks naming what is still held after $timeout seconds.
sub wait_released {
    my (%o) = @_;
    my $timeout = _seconds('timeout', $o{timeout} // 30);
    _check(_wl_wait_released(_pid($o{pid} // 0, 1), $o{port} // 0, int($timeout * 1e6), \my $held));
    return 1;
}

sub _pid {
    my ($pid, $zero_ok) = @_;
    croak "workerlife: pid must be a whole number, not " . ($pid // 'undef')
        unless defined $pid && $pid =~ /\A[0-9]+\z/ && ($zero_ok || $pid > 0) && $pid < 2**32;
    return $pid;
}

package WorkerLife::Policy;

our @CARP_NOT = @WorkerLife::PACKAGES;

use Carp qw(croak);
use overload '""' => sub { $_[0]->to_string }, 'eq' => sub { "$_[0]" eq "$_[1]" }, fallback => 1;

# WorkerLife::Policy->parse("max_requests=1000,max_rss=300MiB")
sub parse {
    my ($class, $spec) = @_;
    WorkerLife::_text('a policy spec', $spec);
    WorkerLife::_check(WorkerLife::_wl_policy_parse($spec, \my $h));
    return bless { h => $h, pid => $$, tid => WorkerLife::_tid() }, $class;
}

# WorkerLife::Policy->new(max_requests => 1000, max_rss => '300MiB');
# numbers are bytes, seconds or counts by the key; undef is off.
sub new {
    my ($class, %kv) = @_;
    WorkerLife::_check(WorkerLife::_wl_policy_new(\my $h));
    my $self = bless { h => $h, pid => $$, tid => WorkerLife::_tid() }, $class;
    for my $key (sort CORE::keys %kv) {
        my $v = $kv{$key} // 0;
        croak "workerlife: invalid value for $key: expected a number or a string" if ref $v;
        WorkerLife::_text("the policy key \"$key\"", $key);
        # A number stays a number (seconds, bytes or a count by the key).
        if (Scalar::Util::looks_like_number($v)) {
            WorkerLife::_check(WorkerLife::_wl_policy_set_number($h, $key, $v));
            next;
        }
        WorkerLife::_text("the value for $key", "$v");
        WorkerLife::_check(WorkerLife::_wl_policy_set($h, $key, "$v"));
    }
    return $self;
}

sub _from_handle { my ($class, $h) = @_; return bless { h => $h, pid => $$, tid => WorkerLife::_tid() }, $class }

# A key's value: seconds for durations, bytes or a count otherwise.
sub get {
    my ($self, $key) = @_;
    my $k = $WorkerLife::KEYS{$key} or croak "workerlife: unknown policy key \"$key\"";
    WorkerLife::_check(WorkerLife::_wl_policy_get_raw($self->{h}, $k->[0], \my $raw));
    return WorkerLife::_value($k->[1], $raw);
}

# Every key's name, in the library's order (a count in scalar context).
sub keys {
    my @k = sort { $WorkerLife::KEYS{$a}[0] <=> $WorkerLife::KEYS{$b}[0] } CORE::keys %WorkerLife::KEYS;
    return @k;
}

sub to_hash {
    my ($self) = @_;
    return { map { ($_ => $self->get($_)) } $self->keys };
}

# The spec string of every key that differs from its default.
sub to_string {
    my ($self) = @_;
    return WorkerLife::_string(\&WorkerLife::_wl_policy_to_string, $self->{h});
}

sub DESTROY {
    my ($self) = @_;
    return if ($self->{tid} // 0) != WorkerLife::_tid();
    WorkerLife::_wl_policy_free($self->{h}) if $self->{h};
}

package WorkerLife::Decision;

our @CARP_NOT = @WorkerLife::PACKAGES;

use overload '""' => sub { $_[0]->to_string }, 'bool' => sub { $_[0]->must_exit }, fallback => 1;

sub _new {
    my ($class, $raw, $action, $reason, $value, $limit) = @_;
    return bless { raw => $raw, action => $action, reason => $reason, value => $value, limit => $limit }, $class;
}

# "continue", "recycle" or "kill".
sub action { return $ACTIONS[ $_[0]{action} ] // 'unknown' }
# The reason's name, or undef for continue.
sub reason { return WorkerLife::_reason($_[0]{reason}) }
# What tripped, and the limit (seconds for times, bytes or counts).
sub value  { my $s = shift; return $s->{reason} ? WorkerLife::_value(WorkerLife::_reason_unit($s->{reason}), $s->{value}) : 0 }
sub limit  { my $s = shift; return $s->{reason} ? WorkerLife::_value(WorkerLife::_reason_unit($s->{reason}), $s->{limit}) : 0 }
sub must_exit { return $_[0]{action} != 0 }

# "max_requests: 1000 >= 1000", "request_timeout: 31.5s >= 30s", "continue".
sub to_string {
    my ($self) = @_;
    my $raw = $self->{raw};
    my ($ptr) = FFI::Platypus::Buffer::scalar_to_buffer($raw);
    return WorkerLife::_string(\&WorkerLife::_wl_decision_text, $ptr);
}

package WorkerLife::Worker;

our @CARP_NOT = @WorkerLife::PACKAGES;

use Carp qw(croak);

# Hot path: the handle is read straight from the object, and _check is
# called only on failure (a Perl sub call is a third of the cost).
# A request starts; true when it should be the last this worker takes (it
# reaches max_requests): accept nothing new, finish, then leave.
sub begin {
    my $last = 0;
    my $rc = WorkerLife::_wl_worker_begin_last($_[0]{h}, \$last);
    WorkerLife::_check($rc) if $rc;
    return $last ? 1 : 0;
}

# True when the worker should leave after this request.
sub end {
    my $exit = 0;
    my $rc = WorkerLife::_wl_worker_end($_[0]{h}, \$exit);
    WorkerLife::_check($rc) if $rc;
    return $exit ? 1 : 0;
}

sub heartbeat { WorkerLife::_check(WorkerLife::_wl_worker_heartbeat($_[0]{h})); return }

# report_health(rss => BYTES, uss => ..., pss => ..., fds => N); absent keys
# leave a reading as it was.
sub report_health {
    my ($self, %h) = @_;
    my $none = 18446744073709551615;
    my %known = map { $_ => 1 } qw(rss uss pss fds);
    for (sort keys %h) { croak "workerlife: unknown reading \"$_\" (rss, uss, pss, fds)" unless $known{$_} }
    my $buf = pack $WorkerLife::LAYOUT{health},
        map { defined $h{$_} ? WorkerLife::_whole("the $_ reading", $h{$_}) : $none } qw(rss uss pss fds);
    my ($ptr) = FFI::Platypus::Buffer::scalar_to_buffer($buf);
    WorkerLife::_check(WorkerLife::_wl_worker_report_health($self->{h}, $ptr));
    return;
}

# Samples this process from /proc, reports it, returns the sample hash.
sub sample_self {
    my ($self, $uss) = @_;
    my $buf = "\0" x $WorkerLife::SIZE{sample};
    my ($ptr) = FFI::Platypus::Buffer::scalar_to_buffer($buf);
    WorkerLife::_check(WorkerLife::_wl_worker_sample_self($self->{h}, $uss ? 1 : 0, $ptr));
    return WorkerLife::_sample($buf);
}

sub check { WorkerLife::_check(WorkerLife::_wl_worker_check($_[0]{h}, $_[1] ? 1 : 0)); return }

sub decision { return WorkerLife::_decision(\&WorkerLife::_wl_worker_decision, $_[0]{h}) }

sub must_exit { return $_[0]->decision->must_exit }

sub requests {
    WorkerLife::_check(WorkerLife::_wl_worker_requests($_[0]{h}, \my $n));
    return $n;
}

sub slot {
    WorkerLife::_check(WorkerLife::_wl_worker_slot($_[0]{h}, \my $n));
    return $n;
}

# Marks the worker as leaving: its recycle permit returns at once.
sub exiting { WorkerLife::_check(WorkerLife::_wl_worker_exiting($_[0]{h})); return }

sub DESTROY {
    my ($self) = @_;
    return if ($self->{tid} // 0) != WorkerLife::_tid();
    WorkerLife::_wl_worker_free($self->{h}) if $self->{h};
}

package WorkerLife::Pool;

our @CARP_NOT = @WorkerLife::PACKAGES;

use Carp qw(croak);

sub _policy_handle {
    my ($policy) = @_;
    return WorkerLife::Policy->new if !defined $policy;
    return $policy if Scalar::Util::blessed($policy) && $policy->isa('WorkerLife::Policy');
    croak "workerlife: policy must be a WorkerLife::Policy or a spec string" if ref $policy;
    return WorkerLife::Policy->parse($policy);
}

sub _slots {
    my ($n) = @_;
    $n //= 1;
    croak "workerlife: slots must be a whole number, not $n" unless $n =~ /\A[0-9]+\z/ && $n < 2**32;
    return $n;
}

# WorkerLife::Pool->new(policy => $policy_or_spec, slots => N,
#   shared => 1 (children forked afterwards share it), seed => S,
#   manual_clock => 1 (tests: time moves by advance() only))
sub new {
    my ($class, %o) = @_;
    return $class->_build(\%o, $o{shared} ? 1 : 0, undef);
}

# A pool in a new file at $path that processes started with exec attach.
sub create {
    my ($class, %o) = @_;
    croak "workerlife: create needs path" unless defined $o{path};
    return $class->_build(\%o, 2, $o{path});
}

sub _build {
    my ($class, $o, $sharing, $path) = @_;
    my %known = map { $_ => 1 } qw(policy slots shared seed manual_clock path);
    for (sort keys %$o) { croak "workerlife: unknown pool option \"$_\"" unless $known{$_} }
    my $policy = _policy_handle($o->{policy});
    my $cpath = defined $path ? WorkerLife::_text('path', $path) . "\0" : undef;
    my $path_ptr = 0;
    ($path_ptr) = FFI::Platypus::Buffer::scalar_to_buffer($cpath) if defined $cpath;
    my $seed = $o->{seed};
    my $opts = pack $WorkerLife::LAYOUT{options}, _slots($o->{slots}), $sharing, $path_ptr,
        $o->{manual_clock} ? 1 : 0, defined $seed ? 1 : 0, $seed // 0;
    my ($opts_ptr) = FFI::Platypus::Buffer::scalar_to_buffer($opts);
    WorkerLife::_check(WorkerLife::_wl_pool_build($policy->{h}, $opts_ptr, \my $h));
    return bless { h => $h, pid => $$, tid => WorkerLife::_tid() }, $class;
}

# Attaches the pool file another process created.
sub attach {
    my ($class, $path) = @_;
    croak "workerlife: attach needs a path" unless defined $path;
    WorkerLife::_text('path', $path);
    WorkerLife::_check(WorkerLife::_wl_pool_attach($path, \my $h));
    return bless { h => $h, pid => $$, tid => WorkerLife::_tid() }, $class;
}

sub slots {
    WorkerLife::_check(WorkerLife::_wl_pool_slot_count($_[0]{h}, \my $n));
    return $n;
}

sub policy {
    WorkerLife::_check(WorkerLife::_wl_pool_policy($_[0]{h}, \my $p));
    return WorkerLife::Policy->_from_handle($p);
}

sub _worker { my ($h) = @_; return bless { h => $h, tid => WorkerLife::_tid() }, 'WorkerLife::Worker' }

# The handle of the slot holding $pid (default: this process), claiming a
# free or stale one. Call it in the worker.
sub claim {
    my ($self, $pid) = @_;
    WorkerLife::_check(WorkerLife::_wl_pool_claim($self->{h}, WorkerLife::_pid($pid // $$), \my $w));
    return _worker($w);
}

# The handle of slot $i, for hosts that number their workers.
sub slot {
    my ($self, $i) = @_;
    WorkerLife::_check(WorkerLife::_wl_pool_worker($self->{h}, _slots($i), \my $w));
    return _worker($w);
}

sub spawned {
    my ($self, $slot, $pid) = @_;
    WorkerLife::_check(WorkerLife::_wl_pool_spawned($self->{h}, _slots($slot), WorkerLife::_pid($pid)));
    return;
}

# The server asked worker $pid to leave on its own account: its exit is not
# a crash. Returns its slot.
sub exiting {
    my ($self, $pid) = @_;
    WorkerLife::_check(WorkerLife::_wl_pool_exiting($self->{h}, WorkerLife::_pid($pid), \my $slot));
    return $slot;
}

# Takes $pid, a live child of this process that the server started, as one
# of the master's workers: actions for the slot it claims may then name it.
sub adopt {
    my ($self, $pid) = @_;
    WorkerLife::_check(WorkerLife::_wl_pool_adopt($self->{h}, WorkerLife::_pid($pid)));
    return;
}

# The master reaped $pid with wait status $status; returns its slot.
sub exited {
    my ($self, $pid, $status) = @_;
    WorkerLife::_check(WorkerLife::_wl_pool_exited($self->{h}, WorkerLife::_pid($pid), $status // 0, \my $slot));
    return $slot;
}

sub exited_slot {
    my ($self, $slot, $status) = @_;
    WorkerLife::_check(WorkerLife::_wl_pool_exited_slot($self->{h}, _slots($slot), $status // 0));
    return;
}

sub recycle {
    my ($self, $slot) = @_;
    WorkerLife::_check(WorkerLife::_wl_pool_recycle($self->{h}, _slots($slot)));
    return;
}

sub decision {
    my ($self, $slot) = @_;
    return WorkerLife::_decision(\&WorkerLife::_wl_pool_decision, $self->{h}, _slots($slot));
}

# Reads an array of C records through $fn until it comes back short.
sub _records {
    my ($self, $fn, $layout, $size) = @_;
    my @out;
    my $cap = 64;
    while (1) {
        my $buf = "\0" x ($size * $cap);
        my ($ptr) = FFI::Platypus::Buffer::scalar_to_buffer($buf);
        my $n = 0;
        WorkerLife::_check($fn->($self->{h}, $ptr, $cap, \$n));
        push @out, [ unpack "($layout)$n", $buf ] if $n;
        return @out if $n < $cap;
    }
}

# What the master should do now: hashes { action => recycle|kill|spawn,
# slot, pid, identity, generation, reason, not_before (seconds) }.
sub tick {
    my ($self) = @_;
    my @flat = $self->_records(\&WorkerLife::_wl_pool_tick, $WorkerLife::LAYOUT{action}, $WorkerLife::SIZE{action});
    my @actions;
    for my $chunk (@flat) {
        my @f = @$chunk;
        while (my ($kind, $slot, $pid, $reason, $gen, $identity, $nb) = splice @f, 0, 7) {
            push @actions, {
                action => $POOL_ACTIONS[$kind], slot => $slot, pid => $pid,
                reason => WorkerLife::_reason($reason), generation => $gen,
                identity => $identity, not_before => $nb / 1e6,
            };
        }
    }
    return @actions;
}

# The events since the last call, oldest first, as hashes.
sub events {
    my ($self) = @_;
    my @flat = $self->_records(\&WorkerLife::_wl_pool_events, $WorkerLife::LAYOUT{event}, $WorkerLife::SIZE{event});
    my @events;
    for my $chunk (@flat) {
        my @f = @$chunk;
        while (my @e = splice @f, 0, 13) {
            my ($kind, $slot, $pid, $gen, $reason, $status, $has_status, $crash,
                $at, $uptime, $requests, $rss, $delay) = @e;
            push @events, {
                kind => $EVENTS[$kind], slot => $slot, pid => $pid, generation => $gen,
                reason => WorkerLife::_reason($reason), status => $has_status ? $status : undef,
                crash => $crash ? 1 : 0, at => $at / 1e6, uptime => $uptime / 1e6,
                requests => $requests, rss => WorkerLife::_reading($rss),
                delay => $kind == 5 ? $delay / 1e6 : undef,
            };
        }
    }
    return @events;
}

# Retires slots whose process is gone; returns their indexes.
sub reap_dead {
    my ($self) = @_;
    my $cap = $self->slots;
    my $buf = "\0" x (4 * $cap);
    my ($ptr) = FFI::Platypus::Buffer::scalar_to_buffer($buf);
    WorkerLife::_check(WorkerLife::_wl_pool_reap_dead($self->{h}, $ptr, $cap, \my $n));
    return unpack "L$n", $buf;
}

# Samples every live worker now: { sampled => N, gone => [slots found gone] },
# the shape Python's Pool.sample() has too.
sub sample {
    my ($self) = @_;
    my $cap = $self->slots;
    my $buf = "\0" x (4 * $cap);
    my ($ptr) = FFI::Platypus::Buffer::scalar_to_buffer($buf);
    WorkerLife::_check(WorkerLife::_wl_pool_sample($self->{h}, \my $sampled, $ptr, $cap, \my $n));
    my @gone = unpack "L$n", $buf;
    return { sampled => $sampled, gone => \@gone };
}

sub stats_json { return WorkerLife::_string(\&WorkerLife::_wl_pool_stats_json, $_[0]{h}) }
sub stats      { return JSON::PP::decode_json($_[0]->stats_json) }
sub prometheus { return WorkerLife::_string(\&WorkerLife::_wl_pool_prometheus, $_[0]{h}) }

# Moves a manual clock forward by $secs (pools made with manual_clock).
sub advance {
    my ($self, $secs) = @_;
    WorkerLife::_seconds('advance', $secs);
    WorkerLife::_check(WorkerLife::_wl_pool_advance($self->{h}, int($secs * 1e6 + 0.5)));
    return;
}

sub now {
    WorkerLife::_check(WorkerLife::_wl_pool_now_us($_[0]{h}, \my $us));
    return $us / 1e6;
}

# Seconds until the next held-back respawn, or undef.
sub next_spawn_in {
    my ($self) = @_;
    my ($due, $us) = (0, 0);
    WorkerLife::_check(WorkerLife::_wl_pool_next_spawn_in($self->{h}, \$due, \$us));
    return $due ? $us / 1e6 : undef;
}

sub DESTROY {
    my ($self) = @_;
    return if ($self->{tid} // 0) != WorkerLife::_tid();
    WorkerLife::_wl_pool_free($self->{h}) if $self->{h};
}

1;

__END__

=head1 NAME

WorkerLife - when a server's worker processes must be recycled, why, and how

=head1 SYNOPSIS

  use WorkerLife;
  my $pool = WorkerLife::Pool->new(
      policy => 'max_requests=1000,max_rss=300MiB', slots => 8, shared => 1);
  # in a worker, after fork:
  my $w = $pool->claim;            # by $$
  $w->begin;  ...;  if ($w->end) { finish the response, then exit }
  # in a master:
  for my $a ($pool->tick) { WorkerLife::kill($a->{pid}, 'TERM', $a->{identity}) ... }

See the repository's README ("Using it from Perl") for every method.

=cut
