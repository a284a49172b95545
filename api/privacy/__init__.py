"""Privacy kit: the DPIA draft and the members' notice, from the installation' own facts."""
