def remove_lid(start_t=0, stop_t=1.40):
    # The action performed right before this was "take spoon". The action performed right after
    # this was "stir soup"
    # objects = [lid, pot, spoon]
    # Holding spoon at start.
    # Grabbed lid at time(s) 0.32
    # Released lid at time(s) 1.21
    # Heard sound of metal collision at time 1.15 sec to 1.30 sec
    # 1: lift the lid off the pot
    if is_on_top("lid", "pot"):
        grasp("lid")
        move("lid", "top")
        assert not is_on_top("lid", "pot")
    # 2: set it aside on the counter
    position("lid", "top")
    release("lid")
