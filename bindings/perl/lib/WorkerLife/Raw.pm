package WorkerLife::Raw;

our @CARP_NOT = @WorkerLife::PACKAGES;

# The raw layer of the Perl binding: the XS module (WorkerLife.xs, linked
# with libworkerlife) defines every C function the binding calls under its
# own name (WorkerLife::Raw::wl_worker_begin_last(...)), and this file the
# helpers the object packages share (errors, strings, struct layouts, the
# library's tables, argument checks). Private to the binding, but imported
# openly by the Plack middleware, whose per-request path calls the C
# functions directly.

use strict;
use warnings;
use Carp qw(croak);
use overload ();
use Scalar::Util ();
use JSON::PP ();
use XSLoader;

XSLoader::load('WorkerLife');

# The library file this module is linked with.
our $LIBRARY = library_path();

# Result codes (include/workerlife.h).
use constant {
    WL_OK               => 0,
    WL_BUFFER_TOO_SMALL => 102,
};

# The library's message for the last failed call on this thread.
sub message {
    my ($code) = @_;
    my $buf = "\0" x 512;
    my ($ptr, $len) = scalar_to_buffer($buf);
    my $needed = 0;
    my $rc = last_error($ptr, $len, \$needed);
    if ($rc == WL_BUFFER_TOO_SMALL) {
        $buf = "\0" x $needed;
        ($ptr, $len) = scalar_to_buffer($buf);
        $rc = last_error($ptr, $len, \$needed);
    }
    $buf =~ s/\0.*//s;
    if ($buf eq '') {
        $buf = "\0" x 256;
        ($ptr, $len) = scalar_to_buffer($buf);
        result_text($code, $ptr, $len, \$needed);
        $buf =~ s/\0.*//s;
    }
    return $buf;
}

# The result code of the last failed call, for callers that branch on it.

# Croaks with the library's message unless $rc is WL_OK.
sub check {
    my ($rc) = @_;
    return if $rc == WL_OK;
    $WorkerLife::ERROR_CODE = $rc;
    croak "workerlife: " . message($rc);
}

# Calls a (buf, len, needed) function and returns the string it wrote.
# Stats text can grow between two calls (a counter or an uptime gains a
# digit), so a retry asks for room to spare.
sub string {
    my ($fn, @args) = @_;
    my $size = 1024;
    for (1 .. 5) {
        my $buf = "\0" x $size;
        my ($ptr, $len) = scalar_to_buffer($buf);
        my $needed = 0;
        my $rc = $fn->(@args, $ptr, $len, \$needed);
        if ($rc == WL_BUFFER_TOO_SMALL) {
            $size = $needed + 1024;
            next;
        }
        check($rc);
        $buf =~ s/\0.*//s;
        return $buf;
    }
    croak "workerlife: the string kept growing";
}

# Policy keys: name => [number, unit], read from the library.
use constant { UNIT_BYTES => 0, UNIT_MICROSECONDS => 1, UNIT_COUNT => 2 };
our %KEYS;
for (my $i = 0; defined(my $name = key_name($i)); $i++) {
    $KEYS{$name} = [$i, key_unit($i)];
}

# A reading: undef for "none" and the other reserved values.
sub reading { my ($v) = @_; return $v >= 18446744073709551613 ? undef : $v }

# A raw value in Perl terms: seconds for durations.
sub value {
    my ($unit, $raw) = @_;
    return $unit == UNIT_MICROSECONDS ? $raw / 1e6 : $raw;
}

# The names of each table's numbers (undef where a number names nothing),
# read from the library, which holds the one definition of each.
sub names {
    my ($lookup) = @_;
    return map { scalar $lookup->($_) } 0 .. 63;
}
our @ACTIONS      = names(\&wl_action_name);
our @REASONS      = names(\&reason_name);
our @POOL_ACTIONS = names(\&wl_pool_action_kind_name);
our @EVENTS       = names(\&wl_event_kind_name);
our @SHARING      = names(\&wl_sharing_name);

sub reason {
    my ($code) = @_;
    return $code ? reason_name($code) : undef;
}

# Structs of the C ABI, as pack templates (native layout, x86_64 and
# aarch64 alike): their sizes are checked by t/api.t.
our %LAYOUT = (
    decision => 'L L Q Q',
    action   => 'L6 Q2',
    event    => 'L5 l C C x6 Q5 d2',
    sample   => 'L x4 Q5',
    health   => 'Q4',
    options  => 'L L Q C C x6 Q',
);
our %SIZE = map { $_ => length pack($LAYOUT{$_}, (0) x 16) } keys %LAYOUT;

sub decision {
    my ($fn, @args) = @_;
    my $buf = "\0" x $SIZE{decision};
    my ($ptr) = scalar_to_buffer($buf);
    check($fn->(@args, $ptr));
    my ($action, $reason, $value, $limit) = unpack $LAYOUT{decision}, $buf;
    return WorkerLife::Decision->_new($buf, $action, $reason, $value, $limit);
}

sub sample {
    my ($buf) = @_;
    my ($pid, $start, $rss, $fds, $uss, $pss) = unpack $LAYOUT{sample}, $buf;
    return {
        pid        => $pid,
        start_time => reading($start),
        rss        => reading($rss),
        fds        => reading($fds),
        uss        => reading($uss),
        pss        => reading($pss),
    };
}


# The thread that made a handle is the one that frees it: ithreads clone
# every object into a new thread, and a clone's DESTROY at the thread's end
# must not free the handle the other threads still use.
sub tid { return $INC{'threads.pm'} ? threads->tid : 0 }

# A string for the library: the C side would stop at a NUL byte and
# silently drop the rest, so one is an error.
sub text {
    my ($what, $s) = @_;
    croak "workerlife: $what must be a string" if !defined $s || ref $s;
    if (index($s, "\0") >= 0) {
        (my $shown = $s) =~ s/\0/\\0/g;
        croak "workerlife: $what contains a NUL byte: \"$shown\"";
    }
    return $s;
}

# The value of an argument, read once. An object with overloaded numbers
# (Math::BigInt, say) is numified here, once, so the value checked is the
# value used: checking its text and then passing it on would read it twice,
# and the two readings may differ. Any other reference is an error.
sub plain {
    my ($what, $v) = @_;
    return $v unless ref $v;
    croak "workerlife: $what must be a number, not $v"
        unless Scalar::Util::blessed($v) && overload::Overloaded($v);
    return 0 + $v;
}

sub _shown { my ($v) = @_; return defined $v ? "\"$v\"" : 'undef' }

# A whole number from $min to $max (defaults: 0 and the largest 64-bit
# value below 10^19), as a plain scalar.
sub whole {
    my ($what, $v, $min, $max) = @_;
    $v = plain($what, $v);
    $min //= 0;
    my $ok = defined $v && $v =~ /\A[0-9]{1,19}\z/ && $v >= $min && (!defined $max || $v <= $max);
    croak "workerlife: $what must be a whole number from $min to " . ($max // '9999999999999999999') . ', not ' . _shown($v)
        unless $ok;
    return $v;
}

# Seconds: a finite number from 0 to 1e9 (about 31 years; more, or 'inf',
# is a mistake rather than a wish to wait forever).
sub seconds {
    my ($what, $v) = @_;
    $v = plain($what, $v);
    croak "workerlife: $what must be a number of seconds from 0 to 1e9, not " . _shown($v)
        unless defined $v
        && $v =~ /\A(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\z/ && $v <= 1e9;
    return $v;
}

# A wait status as waitpid() gives it in $? (a C int).
sub wait_status {
    my ($v) = @_;
    $v = plain('the wait status', $v);
    croak "workerlife: the wait status must be a whole number from -2147483648 to 2147483647, not " . _shown($v)
        unless defined $v && $v =~ /\A-?[0-9]{1,10}\z/ && $v >= -2147483648 && $v <= 2147483647;
    return $v;
}

# A TCP port, 1 to 65535 (0: none).
sub port { return whole('port', $_[0], 0, 65535) }

# 15, 'TERM' or 'SIGTERM' as a number from 0 to 64 (Linux's last real-time
# signal); an overloaded object is read once, as text.
sub signal_number {
    my ($sig) = @_;
    croak "workerlife: no signal given" unless defined $sig;
    $sig = "$sig" if Scalar::Util::blessed($sig) && overload::Overloaded($sig);
    croak "workerlife: a signal must be a number or a name, not $sig" if ref $sig;
    if ($sig =~ /\A[0-9]+\z/) {
        croak "workerlife: signal $sig is out of range (0 to 64)" unless $sig <= 64;
        return $sig;
    }
    require Config;
    (my $name = $sig) =~ s/\ASIG//;
    my @names = split ' ', $Config::Config{sig_name};
    my @nums  = split ' ', $Config::Config{sig_num};
    for my $i (0 .. $#names) { return $nums[$i] if $names[$i] eq $name }
    croak "workerlife: unknown signal " . _shown($sig);
}

# A process id, 1 to 2^32-1 (0 too with $zero_ok).
sub pid {
    my ($pid, $zero_ok) = @_;
    return whole('pid', $pid, $zero_ok ? 0 : 1, 4294967295);
}

1;
