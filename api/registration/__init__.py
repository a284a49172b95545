"""Member self-registration on the chamber Wi-Fi with a one-time code from IT (DESIGN §11)."""
