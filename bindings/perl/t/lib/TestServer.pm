package TestServer;

# A real Starman or Starlet on 127.0.0.1 serving t/apps/app.psgi, started by
# the test, its stderr (the server's and the middleware's log) in a file.

use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX ();
use Waiting qw(eventually);

my $T = File::Spec->rel2abs(File::Spec->catdir(dirname(__FILE__), '..'));
my $LIB = File::Spec->rel2abs(File::Spec->catdir($T, '..', 'lib'));

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# TestServer->start(server => 'starman'|'starlet', workers => N,
#   preload => 0|1, policy => SPEC, app => 'app.psgi',
#   args => [more options for the server], crash => FILE (every child
#   crashes as it starts, writing its pid there: WL_HOSTS_CRASH))
sub start {
    my ($class, %o) = @_;
    my $self = $class->spawn(%o);
    my $served = eventually(sub {
        die "server exited: " . $self->log if waitpid($self->{pid}, POSIX::WNOHANG()) == $self->{pid};
        return $self->{http}->get("http://127.0.0.1:$self->{port}/")->{success};
    }, 30, 'the server serving', 0.05);
    return $self if $served;
    $self->stop;
    die "server not ready: " . $self->log;
}

# The server started as start() does, not waited for.
sub spawn {
    my ($class, %o) = @_;
    my $port = free_port();
    my $dir = tempdir(CLEANUP => 1);
    my $log = "$dir/server.log";
    my $app = "$T/apps/" . ($o{app} // 'app.psgi');
    my $workers = $o{workers} // 2;
    my @cmd;
    if (($o{server} // 'starman') eq 'starman') {
        @cmd = ('starman', '--listen', "127.0.0.1:$port", '--workers', $workers,
            ($o{preload} ? '--preload-app' : ()), @{ $o{args} // [] }, $app);
    } else {
        # Starlet loads the app in the master (plackup), so it is preloaded.
        @cmd = ('plackup', '-s', 'Starlet', '--host', '127.0.0.1', '--port', $port,
            '--max-workers', $workers, '--max-reqs-per-child', 1_000_000, '-E', 'deployment',
            @{ $o{args} // [] }, $app);
    }
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        # Its own process group, so that stop() ends the children too, even
        # those of a master that had to be killed.
        POSIX::setpgid(0, 0);
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $log;
        $ENV{PERL5LIB} = join ':', $LIB, ($ENV{PERL5LIB} // ());
        $ENV{WL_TEST_POLICY} = $o{policy} // '';
        $ENV{WL_TEST_POOL} = $o{pool} // '';
        if (defined $o{crash}) { $ENV{WL_HOSTS_CRASH} = $o{crash} } else { delete $ENV{WL_HOSTS_CRASH} }
        exec @cmd or POSIX::_exit(127);
    }
    return bless { pid => $pid, port => $port, log => $log,
        http => HTTP::Tiny->new(keep_alive => 0, timeout => 10) }, $class;
}

# For a server that must not start: waits up to `timeout` seconds for it
# to exit; its wait status, or undef (then it is stopped) if it did not.
sub wait_exit {
    my ($self, $timeout) = @_;
    # The wait status in a list, which is true even for status 0.
    my $exited = eventually(sub { waitpid($self->{pid}, POSIX::WNOHANG()) == $self->{pid} ? [$?] : undef },
        $timeout, 'the server exiting', 0.05);
    if (!$exited) {
        $self->stop;
        return undef;
    }
    kill 'KILL', -$self->{pid};    # anything of its group left
    $self->{pid} = 0;
    return $exited->[0];
}

sub url { my ($self, $path) = @_; return "http://127.0.0.1:$self->{port}$path" }

# (pid, rss) of the worker that answered, or () on failure.
sub get {
    my ($self, $path) = @_;
    my $r = $self->{http}->get($self->url($path // '/'));
    return () unless $r->{success};
    return split ' ', $r->{content};
}

sub fetch { my ($self, $path) = @_; return $self->{http}->get($self->url($path)) }

sub log {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return '';
    local $/;
    return scalar <$fh>;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    # Reaped here, or already (-1: by a test that waited for it itself).
    my $gone = eventually(sub { my $r = waitpid($self->{pid}, POSIX::WNOHANG()); $r == $self->{pid} || $r == -1 },
        15, 'the server stopping', 0.05);
    if (!$gone) { kill 'KILL', $self->{pid}; waitpid($self->{pid}, 0) }
    # Whatever of the group is left (children of a killed master) goes too.
    kill 'KILL', -$self->{pid};
    $self->{pid} = 0;
    return;
}

sub DESTROY { $_[0]->stop }

1;
