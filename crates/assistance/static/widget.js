// SAU-1: the help widget (being written).
