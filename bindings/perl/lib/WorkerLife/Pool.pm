package WorkerLife::Pool;

use strict;
use warnings;

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
    return WorkerLife::Raw::whole('slots', $n, 0, 4294967295);
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
    my $cpath = defined $path ? WorkerLife::Raw::text('path', $path) . "\0" : undef;
    my $path_ptr = 0;
    ($path_ptr) = WorkerLife::Raw::scalar_to_buffer($cpath) if defined $cpath;
    my $seed = defined $o->{seed} ? WorkerLife::Raw::whole('seed', $o->{seed}) : undef;
    my $opts = pack $WorkerLife::Raw::LAYOUT{options}, _slots($o->{slots}), $sharing, $path_ptr,
        $o->{manual_clock} ? 1 : 0, defined $seed ? 1 : 0, $seed // 0;
    my ($opts_ptr) = WorkerLife::Raw::scalar_to_buffer($opts);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_build($policy->{h}, $opts_ptr, \my $h));
    return bless { h => $h, pid => $$, tid => WorkerLife::Raw::tid() }, $class;
}

# WorkerLife::Pool->open(path => $path, policy => ..., slots => N (default
# 64)): the pool file the workers of one server share when no master of
# ours starts them; attached while another process holds it, else (missing,
# or left by processes now gone) made anew. Linux only.
sub open {
    my ($class, %o) = @_;
    my %known = map { $_ => 1 } qw(policy slots path);
    for (sort keys %o) { croak "workerlife: unknown pool option \"$_\"" unless $known{$_} }
    croak "workerlife: open needs path" unless defined $o{path};
    WorkerLife::Raw::text('path', $o{path});
    my $policy = _policy_handle($o{policy});
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_open($o{path}, $policy->{h}, _slots($o{slots} // 64), \my $h));
    return bless { h => $h, pid => $$, tid => WorkerLife::Raw::tid() }, $class;
}

# For a pool from open, when this process is done with it: gives up its
# hold, then removes the file if no other process holds it. True if it did.
sub remove_if_last {
    my $removed = 0;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_remove_if_last($_[0]{h}, \$removed));
    return $removed ? 1 : 0;
}

# Attaches the pool file another process created.
sub attach {
    my ($class, $path) = @_;
    croak "workerlife: attach needs a path" unless defined $path;
    WorkerLife::Raw::text('path', $path);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_attach($path, \my $h));
    return bless { h => $h, pid => $$, tid => WorkerLife::Raw::tid() }, $class;
}

sub slots {
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_slot_count($_[0]{h}, \my $n));
    return $n;
}

sub policy {
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_policy($_[0]{h}, \my $p));
    return WorkerLife::Policy->_from_handle($p);
}

sub _worker { my ($h) = @_; return bless { h => $h, tid => WorkerLife::Raw::tid() }, 'WorkerLife::Worker' }

# The handle of the slot holding $pid (default: this process), claiming a
# free or stale one. Call it in the worker.
sub claim {
    my ($self, $pid) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_claim($self->{h}, WorkerLife::Raw::pid($pid // $$), \my $w));
    return _worker($w);
}

# The handle of slot $i, for hosts that number their workers. A vacant
# slot gets a generation first, for this process (its master's later
# spawned($i, $pid) takes it on), so its limits hold.
sub slot {
    my ($self, $i) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_worker($self->{h}, _slots($i), \my $w));
    return _worker($w);
}

sub spawned {
    my ($self, $slot, $pid) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_spawned($self->{h}, _slots($slot), WorkerLife::Raw::pid($pid)));
    return;
}

# The worker in $slot is ready to serve: what a replacement waits for before
# the worker it replaces drains (max_surge); its first request counts too.
sub ready {
    my ($self, $slot) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_ready($self->{h}, _slots($slot)));
    return;
}

# The server asked worker $pid to leave on its own account: its exit is not
# a crash. Returns its slot.
sub exiting {
    my ($self, $pid) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_exiting($self->{h}, WorkerLife::Raw::pid($pid), \my $slot));
    return $slot;
}

# Takes $pid, a live child of this process that the server started, as one
# of the master's workers: actions for the slot it claims may then name it.
sub adopt {
    my ($self, $pid) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_adopt($self->{h}, WorkerLife::Raw::pid($pid)));
    return;
}

# The master reaped $pid with wait status $status; returns its slot.
sub exited {
    my ($self, $pid, $status) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_exited($self->{h}, WorkerLife::Raw::pid($pid), WorkerLife::Raw::wait_status($status // 0), \my $slot));
    return $slot;
}

sub exited_slot {
    my ($self, $slot, $status) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_exited_slot($self->{h}, _slots($slot), WorkerLife::Raw::wait_status($status // 0)));
    return;
}

sub recycle {
    my ($self, $slot) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_recycle($self->{h}, _slots($slot)));
    return;
}

sub decision {
    my ($self, $slot) = @_;
    return WorkerLife::Raw::decision(\&WorkerLife::Raw::wl_pool_decision, $self->{h}, _slots($slot));
}

# Reads an array of C records through $fn until it comes back short.
sub _records {
    my ($self, $fn, $layout, $size) = @_;
    my @out;
    my $cap = 64;
    while (1) {
        my $buf = "\0" x ($size * $cap);
        my ($ptr) = WorkerLife::Raw::scalar_to_buffer($buf);
        my $n = 0;
        WorkerLife::Raw::check($fn->($self->{h}, $ptr, $cap, \$n));
        push @out, [ unpack "($layout)$n", $buf ] if $n;
        return @out if $n < $cap;
    }
}

# What the master should do now: hashes { action => recycle|kill|spawn,
# slot, pid, identity, generation, reason, not_before (seconds) }.
sub tick {
    my ($self) = @_;
    my @flat = $self->_records(\&WorkerLife::Raw::wl_pool_tick, $WorkerLife::Raw::LAYOUT{action}, $WorkerLife::Raw::SIZE{action});
    my @actions;
    for my $chunk (@flat) {
        my @f = @$chunk;
        while (my ($kind, $slot, $pid, $reason, $gen, $replaces, $identity, $nb) = splice @f, 0, 8) {
            push @actions, {
                action => $WorkerLife::POOL_ACTIONS[$kind], slot => $slot, pid => $pid,
                reason => WorkerLife::Raw::reason($reason), generation => $gen,
                identity => $identity, not_before => $nb / 1e6,
                replaces => $replaces == 4294967295 ? undef : $replaces,    # WL_NO_SLOT: none
            };
        }
    }
    return @actions;
}

# The events since the last call, oldest first, as hashes.
sub events {
    my ($self) = @_;
    my @flat = $self->_records(\&WorkerLife::Raw::wl_pool_events, $WorkerLife::Raw::LAYOUT{event}, $WorkerLife::Raw::SIZE{event});
    my @events;
    for my $chunk (@flat) {
        my @f = @$chunk;
        while (my @e = splice @f, 0, 15) {
            my ($kind, $slot, $pid, $gen, $reason, $status, $has_status, $crash,
                $at, $uptime, $requests, $rss, $delay, $per_request, $per_second) = @e;
            push @events, {
                kind => $WorkerLife::EVENTS[$kind], slot => $slot, pid => $pid, generation => $gen,
                reason => WorkerLife::Raw::reason($reason), status => $has_status ? $status : undef,
                crash => $crash ? 1 : 0, at => $at / 1e6, uptime => $uptime / 1e6,
                requests => $requests, rss => WorkerLife::Raw::reading($rss),
                # Absent (WL_NO_READING) but for crash loops and ready replacements.
                delay => defined(WorkerLife::Raw::reading($delay)) ? $delay / 1e6 : undef,
                # NaN (unknown) is the one value not equal to itself.
                growth_per_request => $per_request == $per_request ? $per_request : undef,
                growth_per_second  => $per_second == $per_second ? $per_second : undef,
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
    my ($ptr) = WorkerLife::Raw::scalar_to_buffer($buf);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_reap_dead($self->{h}, $ptr, $cap, \my $n));
    return unpack "L$n", $buf;
}

# Samples every live worker now: { sampled => N, gone => [slots found gone] },
# the shape Python's Pool.sample() has too.
sub sample {
    my ($self) = @_;
    my $cap = $self->slots;
    my $buf = "\0" x (4 * $cap);
    my ($ptr) = WorkerLife::Raw::scalar_to_buffer($buf);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_sample($self->{h}, \my $sampled, $ptr, $cap, \my $n));
    my @gone = unpack "L$n", $buf;
    return { sampled => $sampled, gone => \@gone };
}

# The stats as JSON (stats: decoded); with vacant => 0, per_slot lists only
# the occupied slots (vacant ones are counted in workers.vacant).
sub stats_json {
    my ($self, %o) = @_;
    for (sort keys %o) { croak "workerlife: unknown stats option \"$_\"" unless $_ eq 'vacant' }
    my $fn = (!defined $o{vacant} || $o{vacant}) ? \&WorkerLife::Raw::wl_pool_stats_json : \&WorkerLife::Raw::wl_pool_stats_json_occupied;
    return WorkerLife::Raw::string($fn, $self->{h});
}
sub stats { my ($self, %o) = @_; return JSON::PP::decode_json($self->stats_json(%o)) }
sub prometheus { return WorkerLife::Raw::string(\&WorkerLife::Raw::wl_pool_prometheus, $_[0]{h}) }

# Moves a manual clock forward by $secs (pools made with manual_clock).
sub advance {
    my ($self, $secs) = @_;
    $secs = WorkerLife::Raw::seconds('advance', $secs);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_advance($self->{h}, int($secs * 1e6 + 0.5)));
    return;
}

sub now {
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_now_us($_[0]{h}, \my $us));
    return $us / 1e6;
}

# Seconds until the next held-back respawn, or undef.
sub next_spawn_in {
    my ($self) = @_;
    my ($due, $us) = (0, 0);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_pool_next_spawn_in($self->{h}, \$due, \$us));
    return $due ? $us / 1e6 : undef;
}

sub DESTROY {
    my ($self) = @_;
    return if ($self->{tid} // 0) != WorkerLife::Raw::tid();
    WorkerLife::Raw::wl_pool_free($self->{h}) if $self->{h};
}

1;
