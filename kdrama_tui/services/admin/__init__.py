"""What the admin API adds over the other services: dashboard figures and guarded account changes."""
