package WorkerLife::Policy;

use strict;
use warnings;

our @CARP_NOT = @WorkerLife::PACKAGES;

use Carp qw(croak);
use overload '""' => sub { $_[0]->to_string }, 'eq' => sub { "$_[0]" eq "$_[1]" }, fallback => 1;

# WorkerLife::Policy->parse("max_requests=1000,max_rss=300MiB")
sub parse {
    my ($class, $spec) = @_;
    WorkerLife::Raw::text('a policy spec', $spec);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_policy_parse($spec, \my $h));
    return bless { h => $h, pid => $$, tid => WorkerLife::Raw::tid() }, $class;
}

# WorkerLife::Policy->new(max_requests => 1000, max_rss => '300MiB');
# numbers are bytes, seconds or counts by the key; undef is off.
sub new {
    my ($class, %kv) = @_;
    WorkerLife::Raw::check(WorkerLife::Raw::wl_policy_new(\my $h));
    my $self = bless { h => $h, pid => $$, tid => WorkerLife::Raw::tid() }, $class;
    for my $key (sort CORE::keys %kv) {
        my $v = $kv{$key} // 0;
        croak "workerlife: invalid value for $key: expected a number or a string" if ref $v;
        WorkerLife::Raw::text("the policy key \"$key\"", $key);
        # A number stays a number (seconds, bytes or a count by the key).
        if (Scalar::Util::looks_like_number($v)) {
            WorkerLife::Raw::check(WorkerLife::Raw::wl_policy_set_number($h, $key, $v));
            next;
        }
        WorkerLife::Raw::text("the value for $key", "$v");
        WorkerLife::Raw::check(WorkerLife::Raw::wl_policy_set($h, $key, "$v"));
    }
    return $self;
}

sub _from_handle { my ($class, $h) = @_; return bless { h => $h, pid => $$, tid => WorkerLife::Raw::tid() }, $class }

# A key's value: seconds for durations, bytes or a count otherwise.
sub get {
    my ($self, $key) = @_;
    my $k = $WorkerLife::Raw::KEYS{$key} or croak "workerlife: unknown policy key \"$key\"";
    WorkerLife::Raw::check(WorkerLife::Raw::wl_policy_get_raw($self->{h}, $k->[0], \my $raw));
    return WorkerLife::Raw::value($k->[1], $raw);
}

# Every key's name, in the library's order (a count in scalar context).
sub keys {
    my @k = sort { $WorkerLife::Raw::KEYS{$a}[0] <=> $WorkerLife::Raw::KEYS{$b}[0] } CORE::keys %WorkerLife::Raw::KEYS;
    return @k;
}

sub to_hash {
    my ($self) = @_;
    return { map { ($_ => $self->get($_)) } $self->keys };
}

# The spec string of every key that differs from its default.
sub to_string {
    my ($self) = @_;
    return WorkerLife::Raw::string(\&WorkerLife::Raw::wl_policy_to_string, $self->{h});
}

sub DESTROY {
    my ($self) = @_;
    return if ($self->{tid} // 0) != WorkerLife::Raw::tid();
    WorkerLife::Raw::wl_policy_free($self->{h}) if $self->{h};
}

1;
