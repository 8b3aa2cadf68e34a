package Plack::Middleware::WorkerLife;

# Recycles pre-fork workers (Starman, Starlet) by workerlife's rules: every
# request is wrapped in begin/end, and when the worker must go it sets
# psgix.harakiri.commit so the server finishes the response and ends the
# child gracefully. Kills (request_timeout, drain_timeout) need no master:
# each child runs the engine's watchdog thread, which ends the child with
# SIGKILL even while Perl is stuck (the server starts a new one). Where the
# master builds the app (--preload-app, Starlet always), it also reports
# its children's starts and crashes to the pool, which is how a crash loop
# is seen: Starman then stops, Starlet waits the loop's delay (see
# _watch_children). A rule rehearsed (enforce) changes nothing here: the
# worker's begin and end never say leave for it, and the child's watchdog
# logs what it would have done.

use strict;
use warnings;
use parent 'Plack::Middleware';
use Plack::Util;
use Carp ();
use Plack::Util::Accessor qw(policy slots workers stats_path pool);
use Scalar::Util ();
use WorkerLife;

our $VERSION = $WorkerLife::VERSION;

# What this middleware can carry out, by the library's names: each child's
# watchdog thread carries out its own kills. Nothing beats from the loop
# that serves requests (a timer thread would prove nothing), so no
# heartbeat; the server starts its children itself, so no surge; one
# request at a time per child, none cancelled alone; children claim a free
# slot by pid (not numbered). The library refuses the rules these leave out.
my @CAPS = ('watchdog_kills');

# Made when the app is built: in the master with --preload-app (shared by
# every child, so the rolling budget holds across them; Starlet always),
# else in each child as it starts. A bad setting (policy, a rule the host
# cannot carry out, a pool path) croaks here, so the server does not start.
sub prepare_app {
    my ($self) = @_;
    my $server = _server();
    return if eval { $self->_setup($server); 1 };
    my $err = $@;
    # A child building the app itself (Starman without --preload-app):
    # its server would start another child at once, and that one would die
    # the same way, forever. Stop the server instead (its master closes its
    # children and the port); see docs/perl.md.
    if ($server->{master}) {
        chomp(my $why = $err);
        print STDERR "$why\nworkerlife: stopping the server (master $server->{master}): every child would fail the same way\n";
        kill 'TERM', $server->{master};
    }
    die $err;
}

sub _setup {
    my ($self, $server) = @_;
    my $policy = $self->policy;
    $policy = WorkerLife::Policy->parse($policy // '')
        unless Scalar::Util::blessed($policy) && $policy->isa('WorkerLife::Policy');
    # Checked before any pool is made: the library names the key, the host
    # and what to do instead.
    $policy->check_host($server->{name}, @CAPS);
    my $slots = $self->slots
        // WorkerLife::host_slots($self->workers // $server->{workers} // 28, $policy, @CAPS);
    # With `pool => PATH` the pool is a named file: every child shares it
    # even without --preload-app, and `workerlife top PATH` shows it. A file
    # left by a server that is gone is made anew.
    my $path = $self->pool;
    my $pool = defined $path && length $path
        ? WorkerLife::Pool->open(path => $path, policy => $policy, slots => $slots)
        : WorkerLife::Pool->new(policy => $policy, slots => $slots, shared => 1);
    $pool->set_host($server->{name}, @CAPS);
    $self->{pool} = $pool;
    # The fork count the pool was made at: a child forked since shares it
    # with its siblings, and whichever reaps a leaving child's slot logs its
    # recycle; a pool made in this process (no --preload-app) is seen by
    # nobody else, so the leaving child says why itself.
    $self->{made_at} = WorkerLife::fork_count();
    # The fork count (WorkerLife::fork_count) this process claimed its slot
    # at; -1: none yet. A new child sees another count and claims its own.
    $self->{forks} = -1;
    $self->{stats_at} = $self->stats_path;
    # Once per server start where the master builds the app; without
    # --preload-app each child builds it, and says so as it starts.
    print STDERR $pool->startup_line, "\n";
    # The master of a known server: it reports its children to the pool.
    _watch_children($self, $server->{name})
        if !$server->{master} && ($server->{name} eq 'Starman' || $server->{name} eq 'Starlet');
    return;
}

# Crash loops. A child that dies as it starts (before its first request)
# never claims a slot, and the server's master restarts it at once (Starman,
# hundreds a second) or after its own 1 s pause (Starlet), forever. So the
# process that built the app, when it is the server's master, hooks the
# server's own child bookkeeping, in this process only:
# - each child it forks is adopted and given its slot at once (adopt, then
#   claim by its pid; the child finds that slot at its first request);
# - each child it reaps with a non-zero status is reported (exited), and the
#   pool's events are logged as the library's lines. An exit with status 0
#   is the server's own (its max requests, harakiri, a shutdown: neither
#   server counts it as a failure) and is left, as before, to whichever
#   process frees the slot;
# - a crash_loop event (more than max_restarts crashes of one slot within
#   restart_window, each before min_uptime) stops Starman, which has no
#   respawn delay, with exit status 1; Starlet starts its next child after
#   the event's delay instead of its own second (Parallel::Prefork's
#   err_respawn_interval, for that one respawn).
# Nothing here signals anyone but through the server itself (Net::Server
# stops its own children), and every hook runs only in the process that
# made the pool: a child, which has a copy of the hooks, never runs them.
my @WATCHING;    # the middlewares whose pool this process made (weak)
my %HOOKED;      # server name => its hooks are in
my %PREFORK;     # refaddr => 1: Starlet's Parallel::Prefork, in its master

sub _watch_children {
    my ($self, $name) = @_;
    $self->{master_pid} = $$;
    push @WATCHING, $self;
    Scalar::Util::weaken($WATCHING[-1]);
    return if $HOOKED{$name}++;
    no warnings qw(redefine once);
    # The name comes from what Plack was asked for: a server that is not
    # there to hook runs nothing of these.
    if ($name eq 'Starman') {
        eval { require Starman::Server; 1 } or return;
        # Net::Server::PreFork calls register_child in the master right
        # after each fork, and delete_child with the wait status of each
        # child it reaped (none when the child said it was leaving, or when
        # the master stops its children).
        my $register = Starman::Server->can('register_child');
        my $delete = Starman::Server->can('delete_child');
        *Starman::Server::register_child = sub {
            my ($server, $pid, $type) = @_;
            # A worker ('prefork'); not a dequeue child.
            _child_started($pid) if ($type // 'prefork') eq 'prefork';
            return $register->(@_);
        };
        *Starman::Server::delete_child = sub {
            my ($server, $pid, $status) = @_;
            my @r = wantarray ? $delete->(@_) : scalar $delete->(@_);
            _starman_exit($server, $pid, $status) if $status;
            return wantarray ? @r : $r[0];
        };
    } else {
        eval { require Parallel::Prefork; 1 } or return;
        # Starlet makes its Parallel::Prefork in its run(); the callbacks it
        # offers (after_fork, on_child_reap) are set on that one only.
        my $new = Parallel::Prefork->can('new');
        *Parallel::Prefork::new = sub {
            my $pm = $new->(@_);
            _watch_prefork($pm) if caller eq 'Plack::Handler::Starlet' && _watchers();
            return $pm;
        };
        # Its loop reaps one child per turn, and a turn that waits sleeps
        # until its respawn pause ends unless a SIGCHLD cuts the sleep short:
        # a child that died before the sleep began (two children crashing
        # together) was reaped a second or more late, and its exit reported
        # with that much more uptime (past min_uptime, which clears the
        # slot's crash record). For the Parallel::Prefork watched here, a
        # child already dead is reaped before such a sleep.
        my $wait = Parallel::Prefork->can('_wait');
        *Parallel::Prefork::_wait = sub {
            my ($pm, $blocking) = @_;
            if ($blocking && $PREFORK{ Scalar::Util::refaddr($pm) } && ($pm->manager_pid // 0) == $$) {
                my @r = Proc::Wait3::wait3(0);
                return @r if @r;
            }
            return $wait->(@_);
        } if $wait && defined &Proc::Wait3::wait3;
    }
    return;
}

# The middlewares to tell of this process's children: none in a child.
sub _watchers {
    return grep { $_ && $_->{master_pid} == $$ } @WATCHING;
}

# The server forked `pid`: adopted, and its slot claimed for it now, so
# that its exit is a slot's, with its uptime, even before it serves.
sub _child_started {
    my ($pid) = @_;
    for my $self (_watchers()) {
        # No free slot: the child says so itself, at its first request.
        eval { $self->{pool}->adopt($pid); $self->{pool}->claim($pid); 1 };
    }
    return;
}

# The server reaped `pid` with wait status `status` (non-zero): the pool's
# events logged; the crash_loop events among them returned.
sub _child_crashed {
    my ($pid, $status) = @_;
    my @loops;
    for my $self (_watchers()) {
        my $pool = $self->{pool};
        # Unknown: it never had a slot here, or another process freed it
        # first (and logged it).
        eval { $pool->exited($pid, $status); 1 };
        for my $e ($pool->events) {
            _log({}, "workerlife: $e->{line}") if _said($e);
            push @loops, $e if ($e->{kind} // '') eq 'crash_loop';
        }
    }
    return @loops;
}

sub _starman_exit {
    my ($server, $pid, $status) = @_;
    my ($loop) = _child_crashed($pid, $status) or return;
    _log({}, "workerlife: stopping Starman (master $$): its children keep crashing as they start"
        . " (crash_loop: more than max_restarts crashes within restart_window, each before min_uptime),"
        . " and Starman would restart them at once, forever");
    # Net::Server's own shutdown (its children stopped, the port closed),
    # with exit status 1 (Starman's server_close(1) is a graceful QUIT that
    # exits 0, and so would fatal()).
    $server->Net::Server::server_close(1);
    return;
}

sub _watch_prefork {
    my ($pm) = @_;
    $PREFORK{ Scalar::Util::refaddr($pm) } = 1;
    my ($after_fork, $on_reap) = ($pm->after_fork, $pm->on_child_reap);
    # Starlet's own pause after a failed child while a loop's delay stands
    # in for it: set back at the next fork.
    my $own;
    $pm->after_fork(sub {
        my ($pm, $pid) = @_;
        if (defined $own) {
            $pm->err_respawn_interval($own);
            undef $own;
        }
        _child_started($pid);
        $after_fork->(@_) if $after_fork;
    });
    # Called (in an eval) before Parallel::Prefork sets its pause after a
    # non-zero exit, err_respawn_interval, which is what it then waits.
    $pm->on_child_reap(sub {
        my ($pm, $pid, $status) = @_;
        if ($status) {
            my ($delay) = sort { $b <=> $a } map { $_->{delay} // 0 } _child_crashed($pid, $status);
            if ($delay) {
                $own //= $pm->err_respawn_interval;
                # Never shorter than the pause already set.
                my $pause = $pm->err_respawn_interval // 0;
                $pm->err_respawn_interval($pause = $delay) if $delay > $pause;
                _log({}, "workerlife: Starlet starts its next child in ${pause}s (crash loop)");
            }
        }
        $on_reap->(@_) if $on_reap;
    });
    return;
}

# The server that runs this app, as far as Plack tells it: its name for the
# library ("Starman", "Starlet", else "Plack"), its worker count, and (in a
# server's child that builds the app itself) the pid of its master. The
# objects are read from the call stack: Plack's runner (the server it was
# asked for, and its options) while a master preloads the app; the server's
# own objects in a child that builds it.
sub _server {
    my (%s, $asked, %opt);
    eval {
        package DB;    # so that caller() fills @DB::args
        for (my $i = 1; ; $i++) {
            @DB::args = ();
            my @frame = caller($i) or last;
            next unless $frame[4] && @DB::args;    # called with arguments
            my $obj = $DB::args[0];
            next unless Scalar::Util::blessed($obj) && Scalar::Util::reftype($obj) eq 'HASH';
            if ($obj->isa('Plack::Runner')) {
                $asked //= $obj->{server};
                %opt = @{ $obj->{options} } if !%opt && ref $obj->{options} eq 'ARRAY';
            } elsif ($obj->isa('Net::Server') && ref $obj->{server} eq 'HASH') {
                $s{name} //= 'Starman' if $obj->isa('Starman::Server');
                $s{workers} //= $obj->{server}{max_servers};
                my $ppid = $obj->{server}{ppid};
                $s{master} //= $ppid if $ppid && $ppid != $$ && $ppid == getppid();
            } elsif ($obj->isa('Plack::Handler::Starlet')) {
                $s{name} //= 'Starlet';
                my $n = $obj->{max_workers};
                $s{workers} //= $n if $n;
                $s{master} //= getppid() if $n && getppid() > 1;
            } elsif ($obj->isa('Plack::Handler::Starman')) {
                $s{name} //= 'Starman';
                $s{workers} //= $obj->{workers};
            }
        }
        1;
    };
    $asked //= $ENV{PLACK_SERVER};
    if (!$s{name} && defined $asked && $asked =~ /\A(?:Plack::Handler::)?(Starman|Starlet)\z/) {
        $s{name} = $1;
        # The servers' own defaults: Starman 5, Starlet 10.
        $s{workers} = $1 eq 'Starman' ? $opt{workers} // 5 : $opt{max_workers} // $opt{workers} // 10;
    }
    $s{name} //= 'Plack';
    $s{workers} = undef unless defined $s{workers} && $s{workers} =~ /\A[1-9][0-9]{0,6}\z/;
    return \%s;
}

# This process's slot, claimed on its first request.
sub _worker {
    my ($self, $env) = @_;
    my $forks = WorkerLife::fork_count();
    return $self->{worker} if $self->{forks} == $forks;
    $self->{forks} = $forks;
    $self->{worker} = undef;
    $self->{leaving} = 0;
    $self->{warned} = 0;
    my $pool = $self->{pool};
    # Whoever ran here before has exited: free its slot and its recycle
    # permit now (no master calls exited() for Starman's children).
    $pool->reap_dead;
    _events($env, $pool);
    $self->{worker} = eval { $pool->claim($$) };
    _log($env, "workerlife: worker $$ runs unsupervised: $@") unless $self->{worker};
    # The child's own watchdog carries out kill decisions (no master of
    # ours runs), and is the one to log a rule rehearsed (enforce: its
    # would_* line, once per generation and reason; this middleware logs
    # none), so it runs whatever the rules. A forked child's copy of the
    # parent's is let go first.
    $self->{watchdog} = undef;
    if ($self->{worker}) {
        $self->{watchdog} = eval { $self->{worker}->watchdog };
        _log($env, "workerlife: worker $$ has no watchdog (request_timeout is not enforced, and no rule rehearsed is logged): $@")
            unless $self->{watchdog};
    }
    return $self->{worker};
}

# The pool's events this process saw (it and its watchdog reap the slots
# of children gone), each logged as the library's line: a recycle
# (recycle_requested, with its reason, value and limit), crashes, kills,
# crash loops. Not the info lines of a child's start and exit: the server
# starts and ends its children itself, and a child's `spawned` and `exited`
# are seen only when its slot is reaped, after the recycle said why.
my %QUIET = (spawned => 1, exited => 1);

sub _events {
    my ($env, $pool) = @_;
    for my $e ($pool->events) {
        _log($env, "workerlife: $e->{line}") if _said($e);
    }
    return;
}

sub _said {
    my ($e) = @_;
    return !($QUIET{ $e->{kind} // '' } && $e->{severity} < WorkerLife::WL_SEVERITY_WARNING);
}

sub _log {
    my ($env, $msg) = @_;
    chomp $msg;
    my $err = $env->{'psgi.errors'} || *STDERR;
    $err->print("$msg\n");
    return;
}

sub call {
    my ($self, $env) = @_;
    if (defined $self->{stats_at} && substr($env->{PATH_INFO} // '', 0, length $self->{stats_at}) eq $self->{stats_at}) {
        my $rest = substr($env->{PATH_INFO}, length $self->{stats_at});
        if ($rest eq '') {
            my $text = $self->{pool}->prometheus;
            return [200, ['Content-Type' => 'text/plain; version=0.0.4', 'Content-Length' => length $text], [$text]];
        }
        if ($rest eq '.json') {    # what `workerlife top URL` reads
            my $text = $self->{pool}->stats_json;
            return [200, ['Content-Type' => 'application/json', 'Content-Length' => length $text], [$text]];
        }
    }
    # The fork count, not $$: reading $$ is a getpid() system call.
    my $w = ($self->{forks} == WorkerLife::fork_count() ? $self->{worker} : $self->_worker($env))
        or return $self->{app}->($env);
    # The request that reaches max_requests is known when it begins, so the
    # server learns before it writes anything (Starman reads harakiri.commit
    # before the headers). A worker told to go at the end of a stream the
    # server could no longer act on makes this request its last.
    # One XS call at each end of the request (WorkerLife::Worker's
    # request_begin and request_end, called as functions: no method
    # lookup), and _finish is a plain function: per request, Perl's call
    # overhead is most of this middleware's cost.
    $self->_leave($env, $w) if WorkerLife::Worker::request_begin($w) || $self->{leaving};
    my $res = eval { $self->{app}->($env) };
    if (my $err = $@) {
        _finish($self, $env, $w);
        die $err;
    }
    if (ref $res eq 'ARRAY') {
        # _finish, inline for the common case: a sub call is a fifth of
        # this middleware's cost per request.
        my $r = WorkerLife::Worker::request_end($w) or return $res;
        return _after_end($self, $env, $w, $r, $res);
    }
    # Delayed and streaming responses end when the app hands over the
    # whole body, or when it closes the writer.
    return sub {
        my ($respond) = @_;
        $res->(sub {
            my ($r) = @_;
            return $respond->(_finish($self, $env, $w, $r)) if defined $r->[2];
            my $writer = $respond->($r);
            my $open = 1;
            return Plack::Util::inline_object(
                write => sub { $writer->write(@_) },
                close => sub {
                    $writer->close;
                    _finish($self, $env, $w) if $open;
                    $open = 0;
                },
                poll_cb => sub { $writer->poll_cb(@_) },
            );
        });
    };
}

# The request ended: sample when due (the library keeps the cadence),
# count it, and leave if told to.
sub _finish {
    my ($self, $env, $w, $res) = @_;
    # Samples when due (the library keeps the cadence), counts the request.
    return _after_end($self, $env, $w, WorkerLife::Worker::request_end($w), $res);
}

# What request_end's flags ask for.
sub _after_end {
    my ($self, $env, $w, $r, $res) = @_;
    # Free the slots (and recycle permits) of children that exited since,
    # so a waiting worker need not wait for their replacement (the watchdog
    # does it too, every second).
    if ($r & WorkerLife::Worker::END_SAMPLED) {
        eval { $self->{pool}->reap_dead };
        _events($env, $self->{pool});
    }
    $self->_leave($env, $w) if $r & WorkerLife::Worker::END_LEAVE;
    return $res;
}

# Asks the server to end this child after the response (once per child).
sub _leave {
    my ($self, $env, $w) = @_;
    if ($env->{'psgix.harakiri'}) {
        $env->{'psgix.harakiri.commit'} = 1;
        _log($env, "workerlife: worker $$ leaving after this request: " . $w->decision)
            unless $self->{leaving}++ || $self->{made_at} != $self->{forks};
    } elsif (!$self->{warned}++) {
        _log($env, "workerlife: worker $$ should leave (" . $w->decision
            . ") but this server has no psgix.harakiri: it goes on serving; requests are still counted");
    }
    return;
}

1;

__END__

=head1 NAME

Plack::Middleware::WorkerLife - recycle Starman/Starlet workers by workerlife's rules

=head1 SYNOPSIS

  enable 'WorkerLife', policy => 'max_requests=1000,max_rss=300MiB';
  # options: workers => N (the server's worker count; default: what Plack
  # was given), slots => N (the pool's size; default: the library's rule for
  # those workers), stats_path => '/_workerlife'
  # (Prometheus text there, the stats JSON at '/_workerlife.json'),
  # pool => '/run/app/workerlife.pool' (publish the pool as a named file for
  # `workerlife top`; every child shares it, with or without --preload-app)

Run Starman or Starlet with C<--preload-app> so that every child shares one
pool and the rolling recycle budget holds across them, and so that a bad
setting (policy, a rule the host cannot carry out: C<heartbeat_timeout>,
C<max_surge>) fails the server's start in its master; without it each
child keeps its own pool, and a child that cannot build the app stops its
server. The host is declared to the library as C<Starman>, C<Starlet> or
C<Plack> with C<watchdog_kills>; see the repository's docs/perl.md. Memory and FD limits use each worker's own samples, taken
after a request at most every C<sample_interval>.

Where the master builds the app, it reports each child it starts, and each
it reaps with a non-zero status, to the pool; on a C<crash_loop> (children
crashing as they start) Starman stops with exit status 1, and Starlet
waits the loop's delay before its next child (docs/perl.md, "Crash loops").

=cut
