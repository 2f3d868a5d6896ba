def open_fridge(start_t=0, stop_t=1.30):
    # The action performed right before this was "put cup". The actions performed right after
    # this were "take milk" and "close fridge"
    # objects = [fridge, cup, milk]
    # Holding nothing at start.
    # Grabbed fridge at time(s) 0.41
    # Released fridge at time(s) 1.10
    # Go to object from time 0.00 sec to time 0.35 sec
    # Heard sound of open or close at time 0.52 sec to 0.90 sec
    # 1: go to the fridge
    goto("fridge")
    # 2: pull its door open
    if not is_open("fridge"):
        grasp("fridge")
        use("fridge")
        assert is_open("fridge")
        release("fridge")
