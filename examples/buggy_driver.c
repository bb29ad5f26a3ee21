// SPDX-License-Identifier: GPL-2.0
/*
 * buggy_driver.c - an intentionally buggy example driver for kalloclint.
 *
 * This is NOT a real driver.  It models a small PCI network-style device
 * and deliberately contains several memory-allocation mistakes so that
 * you can see what kalloclint reports.  Try:
 *
 *	kalloclint examples/buggy_driver.c
 */

#define BDRV_NAME		"bdrv"
#define BDRV_DEF_RING_SIZE	256
#define BDRV_STATS_WORDS	32
#define BDRV_FW_MAX		(256 * 1024)

#define BDRV_REG_CTRL		0x00
#define BDRV_REG_STATUS		0x04
#define BDRV_REG_RX_BASE	0x10
#define BDRV_REG_RX_LEN		0x18

#define BDRV_CTRL_RESET		BIT(0)
#define BDRV_CTRL_ENABLE	BIT(1)

struct bdrv_desc {
	__le64 addr;
	__le32 len;
	__le32 status;
};

struct bdrv_rx_ring {
	struct bdrv_desc *desc;
	dma_addr_t desc_dma;
	void **bufs;
	unsigned int size;
	unsigned int next;
};

struct bdrv_event {
	struct list_head node;
	u32 code;
	u32 data;
};

struct bdrv_priv {
	struct pci_dev *pdev;
	void __iomem *regs;
	spinlock_t lock;
	struct list_head events;
	struct bdrv_rx_ring *rx;
	u32 *stats;
	u8 *fw_image;
	size_t fw_len;
	char *cmd_buf;
	unsigned int ring_size;
};

static int bdrv_alloc_rx_ring(struct bdrv_priv *priv)
{
	struct bdrv_rx_ring *rx;

	rx = (struct bdrv_rx_ring *)kzalloc(sizeof(*rx), GFP_KERNEL);
	if (!rx)
		return -ENOMEM;

	rx->size = priv->ring_size;
	rx->desc = dma_alloc_coherent(&priv->pdev->dev,
				      rx->size * sizeof(struct bdrv_desc),
				      &rx->desc_dma, GFP_KERNEL);
	if (!rx->desc)
		goto err_free_rx;

	rx->bufs = kmalloc(rx->size * sizeof(void *), GFP_KERNEL);
	if (!rx->bufs)
		goto err_free_desc;

	priv->rx = rx;
	return 0;

err_free_desc:
	dma_free_coherent(&priv->pdev->dev, rx->size * sizeof(struct bdrv_desc),
			  rx->desc, rx->desc_dma);
err_free_rx:
	kfree(rx);
	return -ENOMEM;
}

static void bdrv_free_rx_ring(struct bdrv_priv *priv)
{
	struct bdrv_rx_ring *rx = priv->rx;

	if (!rx)
		return;
	dma_free_coherent(&priv->pdev->dev, rx->size * sizeof(struct bdrv_desc),
			  rx->desc, rx->desc_dma);
	if (rx->bufs)
		kfree(rx->bufs);
	kfree(rx);
	priv->rx = NULL;
}

static int bdrv_alloc_stats(struct bdrv_priv *priv)
{
	priv->stats = kmalloc(BDRV_STATS_WORDS * sizeof(u32), GFP_KERNEL);
	if (!priv->stats)
		return -ENOMEM;
	memset(priv->stats, 0, BDRV_STATS_WORDS * sizeof(u32));
	return 0;
}

static int bdrv_load_firmware(struct bdrv_priv *priv)
{
	const struct firmware *fw;
	int ret;

	ret = request_firmware(&fw, "bdrv/bdrv-fw.bin", &priv->pdev->dev);
	if (ret)
		return ret;

	if (fw->size > BDRV_FW_MAX) {
		ret = -EINVAL;
		goto out_release;
	}

	priv->fw_image = vmalloc(fw->size);
	if (!priv->fw_image) {
		ret = -ENOMEM;
		goto out_release;
	}
	memcpy(priv->fw_image, fw->data, fw->size);
	priv->fw_len = fw->size;
	ret = 0;

out_release:
	release_firmware(fw);
	return ret;
}

static void bdrv_unload_firmware(struct bdrv_priv *priv)
{
	kfree(priv->fw_image);
	priv->fw_image = NULL;
	priv->fw_len = 0;
}

static int bdrv_queue_event(struct bdrv_priv *priv, u32 code, u32 data)
{
	struct bdrv_event *ev;
	unsigned long flags;

	spin_lock_irqsave(&priv->lock, flags);
	ev = kmalloc(sizeof(*ev), GFP_KERNEL);
	if (!ev) {
		spin_unlock_irqrestore(&priv->lock, flags);
		return -ENOMEM;
	}
	ev->code = code;
	ev->data = data;
	list_add_tail(&ev->node, &priv->events);
	spin_unlock_irqrestore(&priv->lock, flags);
	return 0;
}

static int bdrv_send_cmd(struct bdrv_priv *priv, const char *cmd, size_t len)
{
	char *buf;
	int ret;

	buf = kmalloc(len + 1, GFP_KERNEL | GFP_ATOMIC);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, cmd, len);
	buf[len] = '\0';
	ret = bdrv_hw_write_cmd(priv, buf, len + 1);
	if (buf)
		kfree(buf);
	return ret;
}

static int bdrv_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct bdrv_priv *priv;
	int ret;

	priv = devm_kzalloc(&pdev->dev, sizeof(*priv), GFP_KERNEL);
	if (!priv)
		return -ENOMEM;

	priv->pdev = pdev;
	priv->ring_size = BDRV_DEF_RING_SIZE;
	spin_lock_init(&priv->lock);
	INIT_LIST_HEAD(&priv->events);

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;

	priv->regs = pcim_iomap(pdev, 0, 0);
	if (!priv->regs)
		return -ENOMEM;

	writel(BDRV_CTRL_RESET, priv->regs + BDRV_REG_CTRL);

	ret = bdrv_alloc_stats(priv);
	if (ret)
		return ret;

	ret = bdrv_alloc_rx_ring(priv);
	if (ret)
		goto err_free_stats;

	ret = bdrv_load_firmware(priv);
	if (ret)
		goto err_free_ring;

	writel(lower_32_bits(priv->rx->desc_dma), priv->regs + BDRV_REG_RX_BASE);
	writel(priv->rx->size, priv->regs + BDRV_REG_RX_LEN);
	writel(BDRV_CTRL_ENABLE, priv->regs + BDRV_REG_CTRL);

	pci_set_drvdata(pdev, priv);
	return 0;

err_free_ring:
	bdrv_free_rx_ring(priv);
err_free_stats:
	kfree(priv->stats);
	return ret;
}

static void bdrv_remove(struct pci_dev *pdev)
{
	struct bdrv_priv *priv = pci_get_drvdata(pdev);

	writel(0, priv->regs + BDRV_REG_CTRL);
	bdrv_unload_firmware(priv);
	bdrv_free_rx_ring(priv);
	kfree(priv->stats);
}

static const struct pci_device_id bdrv_pci_ids[] = {
	{ PCI_DEVICE(0x1234, 0xb0d5) },
	{ }
};
MODULE_DEVICE_TABLE(pci, bdrv_pci_ids);

static struct pci_driver bdrv_pci_driver = {
	.name		= BDRV_NAME,
	.id_table	= bdrv_pci_ids,
	.probe		= bdrv_probe,
	.remove		= bdrv_remove,
};
module_pci_driver(bdrv_pci_driver);

MODULE_DESCRIPTION("Intentionally buggy example driver for kalloclint");
MODULE_LICENSE("GPL");
