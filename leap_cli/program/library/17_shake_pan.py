def shake_pan(start_t=0, stop_t=1.60):
    # The action performed right before this was "pour oil". The action performed right after
    # this was "put pan"
    # objects = [pan, hob, oil]
    # Holding nothing at start.
    # Grabbed pan at time(s) 0.20
    # Heard sound of sizzling at time 0.00 sec to 1.60 sec
    # Heard sound of metal collision at time 0.50 sec to 1.40 sec
    # 1: take the pan's handle
    if not in_hand("pan"):
        grasp("pan")
    # 2: shake it over the hob to spread the oil
    move("pan", "hob")
    use("pan", "oil")
    assert is_in("oil", "pan")
    # 3: rest it back on the hob
    position("pan", "hob")
