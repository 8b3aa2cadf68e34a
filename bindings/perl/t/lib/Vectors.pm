package Vectors;

# The shared test-vector runner (docs/design.md, "Test vectors"), for Perl: the
# cases the Rust, C and Python suites run (tests/vectors; the distribution
# carries a copy), plus $WORKERLIFE_VECTORS.

use strict;
use warnings;
use File::Spec;
use JSON::PP ();
use WorkerLife;
use Layout;

sub files {
    my @dirs = (Layout::vectors());
    push @dirs, $ENV{WORKERLIFE_VECTORS} if $ENV{WORKERLIFE_VECTORS};
    return map { [ sort glob(File::Spec->catfile($_, '*.json')) ] } @dirs;
}

# (["file: name", case], ...)
sub cases {
    my @out;
    for my $file (map { @$_ } files()) {
        open my $fh, '<', $file or die "$file: $!";
        my $cases = JSON::PP::decode_json(do { local $/; <$fh> });
        my $base = (File::Spec->splitpath($file))[2];
        push @out, [ "$base: " . ($_->{name} // '<unnamed>'), $_ ] for @$cases;
    }
    return @out;
}

sub _describe { return JSON::PP->new->canonical->encode($_[0]) }

# Runs one case; returns undef, or a message naming the failing step.
# A step's pid: a number, or "self" for this process (alive, for cases
# that need a live worker).
sub _pid { my ($step) = @_; return $step->{pid} eq 'self' ? $$ : $step->{pid} }

sub run_case {
    my ($case) = @_;
    my $slots = $case->{slots} // 1;
    my $pool = WorkerLife::Pool->new(
        policy => $case->{policy} // '', slots => $slots,
        seed => $case->{seed} // 0, manual_clock => 1,
    );
    my %w;
    my $worker = sub { my $s = shift; $w{$s} //= $pool->slot($s) };
    # Tickets by the name the vector gave them.
    my %tickets;
    my @steps = @{ $case->{steps} };
    $pool->spawned(0, $$) if $slots == 1 && !grep { $_->{op} eq 'spawned' } @steps;
    my $i = -1;
    for my $step (@steps) {
        $i++;
        my $slot = $step->{slot} // 0;
        my $op = $step->{op};
        my $fail = sub { return "step $i (" . _describe($step) . "): $_[0]" };
        my $err = eval {
            if ($op eq 'request') {
                for (1 .. ($step->{n} // 1)) { $worker->($slot)->begin; $worker->($slot)->end }
            } elsif ($op eq 'begin' && !defined $step->{ticket}) { $worker->($slot)->begin }
            elsif ($op eq 'begin') {
                my $t = $worker->($slot)->begin_ticket;
                if (exists $step->{last}) {
                    my ($got, $want) = (($t & WorkerLife::TICKET_LAST) ? 1 : 0, $step->{last} ? 1 : 0);
                    return $fail->('last is ' . ($got ? 'true' : 'false') . ', expected ' . ($want ? 'true' : 'false'))
                        if $got != $want;
                }
                $tickets{ $step->{ticket} } = $t;
            } elsif ($op eq 'end' && !defined $step->{ticket}) { $worker->($slot)->end }
            elsif ($op eq 'end') {
                # A name never issued is the number the step gives.
                my $t = $tickets{ $step->{ticket} } // $step->{raw}
                    // return $fail->("no ticket \"$step->{ticket}\"");
                my $ended = eval { $worker->($slot)->end_ticket($t); 1 };
                if ($step->{refused}) {
                    return $fail->('ended, expected refused') if $ended;
                } elsif (!$ended) {
                    return $fail->($@);
                }
            } elsif ($op eq 'overdue') {
                my @got = $worker->($slot)->overdue;
                my %due = map { ($_ => 1) } @got;
                my @names = sort grep { $due{ $tickets{$_} & ~WorkerLife::TICKET_LAST } } keys %tickets;
                my @want = sort @{ $step->{expect} // return $fail->('overdue needs expect') };
                return $fail->('overdue ' . _describe(\@names) . ' (' . scalar(@got) . ' tickets), expected '
                    . _describe(\@want)) if _describe(\@names) ne _describe(\@want) || @got != @want;
            } elsif ($op eq 'advance') {
                # Rounded to the nearest microsecond, the pool's unit.
                $pool->advance(sprintf('%.0f', $step->{secs} * 1e6) / 1e6);
            } elsif ($op eq 'health') {
                my %h = map { exists $step->{$_} ? ($_ => $step->{$_}) : () } qw(rss uss pss fds);
                $worker->($slot)->report_health(%h);
            } elsif ($op eq 'container') {
                $pool->report_container(working_set => $step->{working_set}, limit => $step->{limit});
            } elsif ($op eq 'heartbeat') { $worker->($slot)->heartbeat
            } elsif ($op eq 'on_event_loop') { $worker->($slot)->on_event_loop }
            elsif ($op eq 'check') { $worker->($slot)->check($step->{ok}) }
            elsif ($op eq 'recycle') { $pool->recycle($slot) }
            elsif ($op eq 'exiting') { $worker->($slot)->exiting }
            elsif ($op eq 'ready') { $pool->ready($slot) }
            elsif ($op eq 'spawned') { $pool->spawned($slot, _pid($step)) }
            elsif ($op eq 'claim') {
                my $got = $pool->claim(_pid($step))->slot;
                return $fail->("claimed slot $got, expected $slot") if exists $step->{slot} && $got != $slot;
            }
            elsif ($op eq 'exited') { $pool->exited_slot($slot, $step->{status} // 0) }
            elsif ($op eq 'expect') {
                my $d = $pool->decision($slot);
                return $fail->("action is " . $d->action . " (reason " . ($d->reason // 'none')
                    . "), expected $step->{action}") if $d->action ne $step->{action};
                return $fail->("reason is " . ($d->reason // 'none') . ", expected $step->{reason}")
                    if exists $step->{reason} && ($d->reason // '') ne $step->{reason};
                # A continue with a reason is a rule rehearsed (`enforce`):
                # would, and never must_exit.
                my $would = $step->{action} eq 'continue' && exists $step->{reason} ? 1 : 0;
                return $fail->('would is ' . ($d->would ? 1 : 0) . ", expected $would ($d)")
                    if exists $step->{reason} && ($d->would ? 1 : 0) != $would;
                return $fail->('must_exit is ' . ($d->must_exit ? 1 : 0) . " ($d)")
                    if ($d->must_exit ? 1 : 0) != ($step->{action} ne 'continue' ? 1 : 0);
            } elsif ($op eq 'tick') {
                my @got = map { [ $_->{action}, $_->{slot}, $_->{reason}, $_->{replaces} ] } $pool->tick;
                my $shown = _describe(\@got);
                my @left = @got;
                for my $want (@{ $step->{expect} }) {
                    my ($pos) = grep {
                        $left[$_][0] eq $want->{action} && $left[$_][1] == ($want->{slot} // 0)
                            && (!exists $want->{reason} || ($left[$_][2] // '') eq $want->{reason})
                            && (!exists $want->{replaces} || ($left[$_][3] // -1) == $want->{replaces})
                    } 0 .. $#left;
                    return $fail->("tick returned $shown, missing " . _describe($want)) unless defined $pos;
                    splice @left, $pos, 1;
                }
                return $fail->("tick returned $shown, unexpected " . _describe(\@left)) if @left;
            } elsif ($op eq 'growth') {
                my $got = $pool->stats->{per_slot}[$slot]{growth};
                if ($step->{none}) {
                    return $fail->('growth is ' . _describe($got) . ', expected none') if defined $got;
                } else {
                    for my $key (qw(bytes_per_request bytes_per_second seconds_to_limit requests_to_limit samples)) {
                        next unless exists $step->{$key};
                        my ($g, $w) = ($got->{$key}, $step->{$key});
                        my $same = (!defined $g && !defined $w)
                            || (defined $g && defined $w && abs($g - $w) <= 1e-9 * (abs($w) > 1 ? abs($w) : 1));
                        return $fail->("growth $key is " . ($g // 'null') . ', expected ' . ($w // 'null')) unless $same;
                    }
                }
            } elsif ($op eq 'next_spawn') {
                my $got = $pool->next_spawn_in;
                my $got_us = defined $got ? sprintf('%.0f', $got * 1e6) : 'none';
                my $want_us = defined $step->{secs} ? sprintf('%.0f', $step->{secs} * 1e6) : 'none';
                return $fail->("next spawn in $got_us us, expected $want_us") if $got_us ne $want_us;
            } else {
                return $fail->("unknown op \"$op\"");
            }
            return undef;
        };
        return $fail->("died: $@") if !defined $err && $@;
        return $err if defined $err;
    }
    return undef;
}

1;
