def mix_pasta(start_t=0, stop_t=4.30):
    # The action performed right before this was "pour sauce". The action performed right after
    # this was "put spatula"
    # objects = [pasta, pan, spatula, hob]
    # Holding nothing at start.
    # Grabbed spatula at time(s) 0.35
    # Grabbed pan at time(s) 0.60
    # Heard sound of sizzling at time 0.00 sec to 4.30 sec
    # Heard sound of stir at time 0.70 sec to 4.10 sec
    # 1: take the spatula
    if not in_hand("spatula"):
        grasp("spatula")
    # 2: steady the pan and stir until the sauce is through the pasta
    grasp("pan")
    while not is_mixed("pasta"):
        use("spatula", "pasta")
    assert is_mixed("pasta")
