# The delivery workers' AMI (stack config smtp-egress:workerAmi): Amazon Linux 2023 with smtp-egress installed
# from the wheel built in this repository into /opt/smtp-egress (a virtual environment), and the systemd unit
# the launch template's cloud-init expects (components/delivery_workers.py, templates/worker-user-data.yaml.j2).
# The workers install nothing at boot (their security group reaches no package index): everything is here.
#
#   python3 -m pip wheel --no-deps -w dist .
#   packer build -var aws_region=us-east-1 -var wheel=dist/smtp_egress-0.1.0-py3-none-any.whl packer/
#
# Checked in the test suite with `packer validate` (tests/test_packer.py); see README, "Operations".
# Written for Packer 1.6 and later: Packer 1.7+ keeps the amazon builder in a plugin (`packer plugins install
# github.com/hashicorp/amazon`); Packer 1.6, which the tests run, has it built in and rejects required_plugins.

packer {
  required_version = ">= 1.6.6"
}

variable "aws_region" {
  type        = string
  description = "The AWS region the AMI is built in (and used from): one per stack, e.g. us-east-1, eu-west-1."
}

variable "wheel" {
  type        = string
  description = "The smtp-egress wheel to install (python3 -m pip wheel --no-deps -w dist .)."
}

variable "constraints" {
  type        = string
  default     = ""
  description = "The pinned versions of the wheel's dependencies; empty: the repository's constraints.txt."
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "A subnet with a way to the package indexes (dnf, PyPI) for the build; empty: the default VPC's."
}

locals {
  stamp       = formatdate("YYYYMMDDhhmmss", timestamp())
  stage       = "/tmp/smtp-egress"
  constraints = var.constraints != "" ? var.constraints : "${path.root}/../constraints.txt"
}

source "amazon-ebs" "worker" {
  region          = var.aws_region
  instance_type   = var.instance_type
  subnet_id       = var.subnet_id
  ssh_username    = "ec2-user"
  ami_name        = "smtp-egress-worker-${local.stamp}"
  ami_description = "smtp-egress delivery worker: /opt/smtp-egress and smtp-egress-worker.service"

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  # The launch template's root device (DeliveryWorkersArgs.root_device_name), encrypted like the workers' volumes.
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 8
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }


  tags = {
    Project = "smtp-egress"
    Role    = "delivery-worker"
    Wheel   = basename(var.wheel)
  }
}

build {
  sources = ["source.amazon-ebs.worker"]

  provisioner "shell" {
    inline = ["mkdir -p ${local.stage}"]
  }

  provisioner "file" {
    source      = var.wheel
    destination = "${local.stage}/${basename(var.wheel)}"
  }

  provisioner "file" {
    source      = local.constraints
    destination = "${local.stage}/constraints.txt"
  }

  provisioner "file" {
    source      = "${path.root}/install-worker.sh"
    destination = "${local.stage}/install-worker.sh"
  }

  provisioner "shell" {
    inline = [
      "sudo sh ${local.stage}/install-worker.sh ${local.stage}/${basename(var.wheel)} ${local.stage}/constraints.txt",
      "rm -rf ${local.stage}",
    ]
  }

  # The AMI ID for smtp-egress:workerAmi in stacks/Pulumi.<stack>.yaml.
  post-processor "manifest" {
    output     = "packer-manifest.json"
    strip_path = true
  }
}
