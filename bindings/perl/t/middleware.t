# The middleware's contract with the PSGI env, run in-process.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use Plack::Builder;
use Plack::Util;
use File::Temp ();
use Waiting qw(eventually quiet_for);

# The start-up lines the middlewares built here wrote on STDERR.
my $said = '';

sub app_with {
    my ($policy, $inner) = @_;
    local *STDERR;
    open STDERR, '>>', \$said;
    return builder {
        enable 'WorkerLife', policy => $policy, stats_path => '/_wl';
        $inner // sub { [200, ['Content-Type' => 'text/plain'], ["ok\n"]] };
    };
}

sub env {
    my (%o) = @_;
    my $errors = '';
    open my $fh, '>', \$errors;
    return ({ REQUEST_METHOD => 'GET', PATH_INFO => '/', 'psgi.errors' => $fh, %o }, \$errors);
}

sub requests_total {
    my ($app) = @_;
    my ($env) = env(PATH_INFO => '/_wl');
    my $res = $app->($env);
    return (join('', @{ $res->[2] }) =~ /^workerlife_requests_total (\d+)/m)[0];
}

subtest 'harakiri.commit is set by the request that reaches the limit' => sub {
    my $app = app_with('max_requests=3');
    for my $n (1 .. 3) {
        my ($env, $errors) = env('psgix.harakiri' => 1);
        my $res = $app->($env);
        is($res->[0], 200);
        is(!!$env->{'psgix.harakiri.commit'}, $n == 3, "request $n");
        like($$errors, qr/worker $$ leaving after this request: max_requests: 3 >= 3/, 'logged') if $n == 3;
    }
};

subtest 'without psgix.harakiri: warn once, keep counting' => sub {
    my $app = app_with('max_requests=2');
    my $warnings = '';
    for (1 .. 5) {
        my ($env, $errors) = env();
        $app->($env);
        $warnings .= $$errors;
    }
    my @w = $warnings =~ /has no psgix\.harakiri/g;
    is(scalar @w, 1, 'one warning');
    is(requests_total($app), 5, 'every request counted');
};

subtest 'streamed responses count when the writer closes' => sub {
    my $writer_closed;
    my $stream = sub {
        return sub {
            my ($respond) = @_;
            my $w = $respond->([200, []]);
            $w->write('a');
            $writer_closed = sub { $w->close };
        };
    };
    my $app = app_with('max_requests=5', $stream);
    my ($env) = env('psgix.harakiri' => 1);
    my @chunks;
    my $res = $app->($env);
    $res->(sub { return Plack::Util::inline_object(write => sub { push @chunks, @_ }, close => sub { push @chunks, 'EOF' }) });
    is(requests_total($app), 0, 'not yet: the stream is open');
    $writer_closed->();
    is_deeply(\@chunks, ['a', 'EOF'], 'the body went through');
    is(requests_total($app), 1, 'counted at close');
    ok(!$env->{'psgix.harakiri.commit'}, 'below the limit: no harakiri');

    # The request that reaches the limit is committed when it begins,
    # before the server writes its headers.
    my $last = app_with('max_requests=1', $stream);
    my ($env2) = env('psgix.harakiri' => 1);
    my $res2 = $last->($env2);
    ok($env2->{'psgix.harakiri.commit'}, 'the last request is known before it streams');
    $res2->(sub { return Plack::Util::inline_object(write => sub { }, close => sub { }) });
    $writer_closed->();
    is(requests_total($last), 1, 'and it is counted at close');
};

subtest 'delayed responses with a body count when handed over' => sub {
    my $app = app_with('max_requests=1', sub { return sub { $_[0]->([200, [], ['late']]) } });
    my ($env) = env('psgix.harakiri' => 1);
    my $got;
    $app->($env)->(sub { $got = $_[0] });
    is_deeply($got->[2], ['late']);
    ok($env->{'psgix.harakiri.commit'}, 'commit set before the server writes');
};

subtest 'an app that dies still ends its request' => sub {
    my $app = app_with('max_requests=10', sub { die "boom\n" });
    my ($env) = env();
    eval { $app->($env) };
    is($@, "boom\n", 'the error goes on to the server');
    is(requests_total($app), 1, 'the request was ended');
};

subtest 'a bad policy stops the app from building' => sub {
    eval { app_with('max_reqests=5') };
    like($@, qr/unknown policy key "max_reqests"/);
    eval { app_with('heartbeat_timeout=2s') };
    like($@, qr/heartbeat_timeout=2s: Plack sends no heartbeat/, 'a rule this host cannot carry out, named by the library');
    eval { app_with('request_timeout=5s,max_surge=1') };
    like($@, qr/max_surge=1: Plack cannot start a replacement/);
};

subtest 'the start-up line, once per app built' => sub {
    $said = '';
    app_with('max_requests=7');
    is($said, "workerlife on for Plack: policy max_requests=7, 64 slots; the host has watchdog kills; refused here: heartbeat_timeout (no heartbeat), max_surge (cannot start a replacement)\n",
        'the library\'s line: no server named by Plack here, 64 slots for 28 workers');
    $said = '';
    {
        local *STDERR;
        open STDERR, '>>', \$said;
        builder {
            enable 'WorkerLife', policy => '', workers => 3;
            sub { [200, [], []] };
        };
    }
    like($said, qr/^workerlife on for Plack: the default policy, 14 slots;/, 'workers => N sizes the pool by the library\'s rule');
    $said = '';
    {
        local $ENV{PLACK_SERVER} = 'Starlet';
        app_with('max_requests=7');
    }
    like($said, qr/^workerlife on for Starlet: .* 28 slots;/, 'the server Plack was asked for, and its default worker count (10)');
};

# A dress rehearsal: the middleware acts on the worker's begin and end
# alone, and a rule rehearsed makes neither say leave; the worker's
# watchdog (started at its first request whatever the rules, not only for
# kills) writes each would line once on fd 2, which is the one log here.
subtest 'a rule rehearsed: the worker serves on, and its watchdog says so once per reason' => sub {
    my $log = File::Temp->new;
    open my $stderr, '>&', \*STDERR or die "dup: $!";
    open STDERR, '>', $log->filename or die "$log: $!";
    my $read = sub { open my $fh, '<', $log->filename or die $!; local $/; scalar <$fh> };
    my $would = sub {
        my ($kind, $reason) = @_;
        my @lines = $read->() =~ /^(workerlife: $kind slot=\d+ pid=$$ gen=\d+ reason=$reason .*)$/mg;
        return @lines;
    };
    my $late;
    my $ok = eval {
        my $app = builder {
            enable 'WorkerLife', policy => 'max_requests=2,request_timeout=1s,enforce=off';
            sub {
                # In flight until the watchdog has said what it would kill
                # (so past request_timeout), then answered.
                $late = eventually(sub { $would->('would_kill', 'request_timeout') }, 10, 'the would_kill line')
                    if $_[0]{PATH_INFO} eq '/slow';
                return [200, [], ["ok\n"]];
            };
        };
        my $errors = '';
        for my $path (('/') x 4, '/slow', '/') {
            my ($env, $said) = env(PATH_INFO => $path, 'psgix.harakiri' => 1);
            is($app->($env)->[0], 200, "$path: answered");
            ok(!$env->{'psgix.harakiri.commit'}, "$path: the worker is not told to leave");
            $errors .= $$said;
        }
        ok($late, 'a request past request_timeout was answered');
        unlike($errors, qr/leaving after this request|should leave/, 'no leaving said');
        ok(eventually(sub { $would->('would_recycle', 'max_requests') }, 10, 'the would_recycle line'),
            'the watchdog says what max_requests would do');
        like(($would->('would_recycle', 'max_requests'))[0] // '', qr/reason=max_requests \(\d+ >= 2\) /, 'with its figures');
        # Ten of the watchdog's rounds (100 ms each at request_timeout=1s).
        ok(quiet_for(1, 'a would line said again', sub {
            $would->('would_recycle', 'max_requests') == 1 && $would->('would_kill', 'request_timeout') == 1
        }), 'each once per generation and reason') or diag $read->();
        1;
    };
    my $err = $@;
    open STDERR, '>&', $stderr or die "restore: $!";
    die $err unless $ok;
};

subtest 'request_timeout is carried out by the watchdog: accepted' => sub {
    my $app = app_with('request_timeout=30s,drain_timeout=10s');
    my ($env) = env('psgix.harakiri' => 1);
    is($app->($env)->[0], 200);
};

done_testing;
