package WorkerLife::Decision;

use strict;
use warnings;

our @CARP_NOT = @WorkerLife::PACKAGES;

use overload '""' => sub { $_[0]->to_string }, 'bool' => sub { $_[0]->must_exit }, fallback => 1;

sub _new {
    my ($class, $raw, $action, $reason, $value, $limit) = @_;
    return bless { raw => $raw, action => $action, reason => $reason, value => $value, limit => $limit }, $class;
}

# "continue", "recycle" or "kill".
sub action { return $WorkerLife::ACTIONS[ $_[0]{action} ] // 'unknown' }
# The reason's name, or undef for continue.
sub reason { return WorkerLife::Raw::reason($_[0]{reason}) }
# What tripped, and the limit (seconds for times, bytes or counts).
sub value  { my $s = shift; return $s->{reason} ? WorkerLife::Raw::value(WorkerLife::Raw::reason_unit($s->{reason}), $s->{value}) : 0 }
sub limit  { my $s = shift; return $s->{reason} ? WorkerLife::Raw::value(WorkerLife::Raw::reason_unit($s->{reason}), $s->{limit}) : 0 }
sub must_exit { return $_[0]{action} != 0 }

# "max_requests: 1000 >= 1000", "request_timeout: 31.5s >= 30s", "continue".
sub to_string {
    my ($self) = @_;
    my $raw = $self->{raw};
    my ($ptr) = WorkerLife::Raw::scalar_to_buffer($raw);
    return WorkerLife::Raw::string(\&WorkerLife::Raw::wl_decision_text, $ptr);
}

1;
