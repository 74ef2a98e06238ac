"""What recurring billing sagas share: a child payment saga per charge attempt."""
