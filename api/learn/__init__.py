"""Learn mode: find the hosts the agenda and webcast need before default-deny goes live."""
