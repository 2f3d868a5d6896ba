def move_pan(start_t=0, stop_t=1.70):
    # The action performed right before this was "turn off hob". The action performed right
    # after this was "take plate"
    # objects = [pan, hob, top]
    # Holding nothing at start.
    # Grabbed pan at time(s) 0.30
    # Released pan at time(s) 1.45
    # Heard sound of metal collision at time 1.30 sec to 1.50 sec
    # 1: take the pan by its handle
    if not in_hand("pan"):
        grasp("pan")
    # 2: carry it off the hob and put it down on the counter
    move("pan", "top")
    position("pan", "top")
    release("pan")
    assert is_on_top("pan", "top")
