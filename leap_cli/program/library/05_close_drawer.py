def close_drawer(start_t=0, stop_t=0.92):
    # The action performed right before this was "take spoon". The action performed right after
    # this was "stir pan"
    # objects = [drawer, spoon, pan]
    # Holding spoon at start.
    # Grabbed drawer at time(s) 0.20
    # Released drawer at time(s) 0.71
    # Heard sound of open or close at time 0.55 sec to 0.80 sec
    # 1: push the drawer shut with the free hand
    if is_open("drawer"):
        grasp("drawer")
        use("drawer")
        release("drawer")
        assert not is_open("drawer")
