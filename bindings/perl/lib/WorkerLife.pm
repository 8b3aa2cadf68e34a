package WorkerLife;

# The Perl binding: an object API over libworkerlife's C ABI. Thin: every
# rule lives in the library; these packages convert arguments, results and
# errors (the raw calls are in WorkerLife::Raw).

use strict;
use warnings;

# The packages of the binding trust each other, so croak names the caller's
# line, not one in here.
our @PACKAGES;
BEGIN {
    @PACKAGES = qw(WorkerLife WorkerLife::Raw WorkerLife::Policy WorkerLife::Decision WorkerLife::Worker
        WorkerLife::Watchdog WorkerLife::Pool);
}
our @CARP_NOT = @PACKAGES;

use Carp qw(croak);
use WorkerLife::Raw;
use WorkerLife::Policy;
use WorkerLife::Decision;
use WorkerLife::Worker;
use WorkerLife::Pool;

# The version is the library's (Cargo.toml's), not a copy.
our $VERSION = WorkerLife::Raw::wl_version();
sub library_version { return WorkerLife::Raw::wl_version() }
our $LIBRARY = $WorkerLife::Raw::LIBRARY;

# The result code of the last failed call, for callers that branch on it.
our $ERROR_CODE = 0;

# The names of each table's numbers, from the library.
our @ACTIONS      = @WorkerLife::Raw::ACTIONS;
our @REASONS      = @WorkerLife::Raw::REASONS;
our @POOL_ACTIONS = @WorkerLife::Raw::POOL_ACTIONS;
our @EVENTS       = @WorkerLife::Raw::EVENTS;
our @SHARING      = @WorkerLife::Raw::SHARING;

# Samples process $pid once: { pid, start_time, rss, fds, uss, pss } (undef:
# no reading); USS and PSS too when $uss is true.
sub sample {
    my ($pid, $uss) = @_;
    my $buf = "\0" x $WorkerLife::Raw::SIZE{sample};
    my ($ptr) = WorkerLife::Raw::scalar_to_buffer($buf);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_process_sample(WorkerLife::Raw::pid($pid), $uss ? 1 : 0, $ptr));
    return WorkerLife::Raw::sample($buf);
}

# The identity (start time) of $pid, for kill().
sub identity {
    my ($pid) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_process_identity(WorkerLife::Raw::pid($pid), \my $start));
    return $start;
}

# Sends $sig to $pid only if it is still the process of $identity (from
# identity()); croaks (and sends nothing) if the pid is gone or reused, or
# the identity is missing or 0: a bare pid never authorises a signal.
sub kill {
    my ($pid, $sig, $identity) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_signal(WorkerLife::Raw::pid($pid), WorkerLife::Raw::whole('identity', $identity), WorkerLife::Raw::signal_number($sig)));
    return 1;
}

# Waits until $pid (0: none) is gone and TCP $port (0: none) can be bound;
# croaks naming what is still held after $timeout seconds.
sub wait_released {
    my (%o) = @_;
    my $timeout = WorkerLife::Raw::seconds('timeout', $o{timeout} // 30);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_wait_released(WorkerLife::Raw::pid($o{pid} // 0, 1), WorkerLife::Raw::port($o{port} // 0), int($timeout * 1e6), \my $held));
    return 1;
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
