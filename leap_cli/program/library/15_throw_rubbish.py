def throw_rubbish(start_t=0, stop_t=2.00):
    # The action performed right before this was "peel onion". The action performed right
    # after this was "close bin"
    # objects = [rubbish, bin, onion]
    # Holding nothing at start.
    # Grabbed rubbish at time(s) 0.25
    # Released rubbish at time(s) 1.60
    # Go to object from time 0.50 sec to time 1.30 sec
    # 1: gather the onion skins
    grasp("rubbish")
    # 2: carry them to the bin and drop them in
    goto("bin")
    move("rubbish", "bin")
    release("rubbish")
    assert is_in("rubbish", "bin")
