"""The hosts backend: configures software on VMs with Ansible, through ansible-runner."""
